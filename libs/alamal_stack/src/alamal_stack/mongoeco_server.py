"""Run mongoeco's MongoDB wire server in a background thread (tests), or as a process of its own
(`python -m alamal_stack.mongoeco_server --port N`, what `./alamal run --store mongodb` starts).

mongoeco is a development dependency and suits small data only (see DESIGN.md): it is imported
when the server starts, so importing this module never fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

_START_TIMEOUT_SECONDS = 30.0


class MongoecoServer:
    """A mongoeco wire server on 127.0.0.1 with its own event loop in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._uri: str | None = None

    @property
    def uri(self) -> str:
        """The server's MongoDB URL (mongodb://127.0.0.1:PORT/?directConnection=true)."""
        if self._uri is None:
            raise RuntimeError("the mongoeco server is not running")
        return self._uri

    def start(self) -> str:
        """Start the server and return its URL; idempotent."""
        if self._uri is not None:
            return self._uri
        from mongoeco.wire.proxy import AsyncMongoEcoProxyServer  # dev-only dependency

        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_forever, args=(loop,), name="mongoeco-server", daemon=True
        )
        thread.start()
        server = AsyncMongoEcoProxyServer(host=self._host, port=self._port)
        started: Future[Any] = asyncio.run_coroutine_threadsafe(server.start(), loop)
        try:
            address = started.result(timeout=_START_TIMEOUT_SECONDS)
        except BaseException:
            _stop_loop(loop, thread)
            raise
        self._loop, self._thread, self._server = loop, thread, server
        self._uri = str(address.uri)
        return self._uri

    def stop(self) -> None:
        """Close the server and its connections, then end the thread; idempotent."""
        loop, thread, server = self._loop, self._thread, self._server
        self._loop = self._thread = self._server = self._uri = None
        if loop is None or thread is None:
            return
        try:
            closing = asyncio.run_coroutine_threadsafe(server.close(), loop)
            closing.result(timeout=_START_TIMEOUT_SECONDS)
        finally:
            _stop_loop(loop, thread)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def database_url(uri: str, database: str) -> str:
    """`uri` (a server's URL, options kept) naming `database` in its path."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=_START_TIMEOUT_SECONDS)


async def serve(host: str, port: int) -> None:
    """Serve mongoeco's wire protocol on host:port until cancelled (SIGTERM ends the process)."""
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer  # dev-only dependency

    server = AsyncMongoEcoProxyServer(host=host, port=port)
    address = await server.start()
    print(f"mongoeco listening on {address.uri}", flush=True)  # noqa: T201 - the process log
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m alamal_stack.mongoeco_server --port N`: one server in this process."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m alamal_stack.mongoeco_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
