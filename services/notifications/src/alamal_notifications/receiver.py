"""A small webhook receiver on plain asyncio (HTTP/1.1, keep-alive) that checks signatures.

For the tests, the benchmark and partner engineers trying deliveries locally. Each path can be
told how to answer the next requests (a status, a hang, a connection reset); otherwise 200.
Signatures are checked with `standardwebhooks.Webhook(secret).verify(...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

_REASONS = {200: "OK", 204: "No Content", 307: "Temporary Redirect", 410: "Gone"}


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer with this status and headers."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass(frozen=True, slots=True)
class Hang:
    """Read the request, then answer nothing for this long and close."""

    seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Reset:
    """Read the request, then reset the connection (TCP RST)."""


type Behaviour = Reply | Hang | Reset


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    at: float
    """`time.monotonic()` when the body had been read."""
    answer: Behaviour
    wall: float = 0.0
    """`time.time()` at the same moment (to compare with timestamps of other processes)."""

    def verifies(self, secret: str) -> bool:
        """Whether the request carries a valid signature for `secret`."""
        try:
            Webhook(secret).verify(self.body, dict(self.headers))
        except WebhookVerificationError:
            return False
        return True

    @property
    def delivered(self) -> bool:
        """Whether it was answered with a 2xx."""
        return isinstance(self.answer, Reply) and 200 <= self.answer.status < 300

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header."""
        return self.headers.get("webhook-id", "")


class Receiver:
    """Serves on 127.0.0.1; `plan(path, ...)` scripts answers, `received` records requests."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._plans: dict[str, deque[Behaviour]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The full URL of a path."""
        return self.base_url + path

    def plan(self, path: str, *answers: Behaviour) -> None:
        """Answer the next requests to `path` like this, in order (then 200 again)."""
        self._plans[path].extend(answers)

    def at(self, path: str) -> list[Received]:
        """The requests to one path, in arrival order."""
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, *, within: float = 10.0) -> list[Received]:
        """Wait until `path` got `count` requests; AssertionError after `within` seconds."""
        if not await self.wait_until(lambda: len(self.at(path)) >= count, within=within):
            raise AssertionError(f"{path}: {len(self.at(path))} of {count} requests")
        return self.at(path)

    async def wait_until(self, done: Callable[[], bool], *, within: float) -> bool:
        """Wait until `done()` holds after a request arrived; False after `within` seconds."""
        deadline = time.monotonic() + within
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.2)):
                    await self._arrived.wait()
        return True

    async def start(self, *, tls: ssl.SSLContext | None = None) -> None:
        """Listen on a free port (with TLS when given a server context)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            self._server.close()
            self._server.abort_clients()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        _, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        plan = self._plans.get(target)
        answer: Behaviour = plan.popleft() if plan else Reply()
        self.received.append(
            Received(target, headers, body, time.monotonic(), answer, wall=time.time())
        )
        self._arrived.set()
        if isinstance(answer, Hang):
            await asyncio.sleep(answer.seconds)
            return False
        if isinstance(answer, Reset):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        reason = _REASONS.get(answer.status, "Status")
        head = [f"HTTP/1.1 {answer.status} {reason}", f"content-length: {len(answer.body)}"]
        head += [f"{k}: {v}" for k, v in answer.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body)
        await writer.drain()
        return True
