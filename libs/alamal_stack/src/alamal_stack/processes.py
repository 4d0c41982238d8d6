"""Child-process helpers shared by the broker and the services: ports, stopping, log tails."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

LOCALHOST = "127.0.0.1"


class StackError(RuntimeError):
    """The embedded stack could not start or keep a process running."""


class ListeningSocket:
    """A TCP socket the runner binds and listens on, handed to service processes by number.

    The runner, not the service, binds its ports: a readiness probe then always meets a
    listener, never a port nobody holds yet (a connect to a free port in Linux's ephemeral
    range can pick that very port as its own source and connect to itself, and the service
    then fails with "address already in use"). The kernel also keeps the port out of other
    processes' ephemeral choices while the runner holds it, and replicas of one service share
    it: the kernel queues connections for whichever replica accepts next.
    """

    def __init__(self, port: int, owner: str, host: str = LOCALHOST, *, backlog: int = 512) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # As servers do: connections of a predecessor lingering in TIME_WAIT do not block
            # the port, a listening socket does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise StackError(
                f"{owner}: port {host}:{port} is already in use ({exc.strerror}); "
                "is another stack running? choose other ports"
            ) from exc
        sock.set_inheritable(True)
        self._sock: socket.socket | None = sock
        self.host = host
        self.port: int = sock.getsockname()[1]

    def fileno(self) -> int:
        """The descriptor number a child process receives (the same number in the child)."""
        if self._sock is None:
            raise StackError(f"the socket of port {self.port} is closed")
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether the runner has let go of the port."""
        return self._sock is None

    def close(self) -> None:
        """Stop listening here (children still holding a copy keep serving); idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def connect_without_self_connect(host: str, port: int, within: float) -> bool:
    """Whether something listens on `host:port`, asked so that the probe can never connect to
    itself: its source port is chosen (and checked) before it connects."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.bind((host, 0))
        if sock.getsockname()[1] == port:  # the kernel offered the very port we probe
            return False
        async with asyncio.timeout(within):
            await loop.sock_connect(sock, (host, port))
        connected: bool = sock.getsockname() != sock.getpeername()
        return connected
    except (OSError, TimeoutError):
        return False
    finally:
        sock.close()


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(port: int, owner: str, host: str = LOCALHOST) -> None:
    """Raise StackError when something already listens on `port`.

    Checked before a child starts: otherwise the child fails to bind, but a readiness probe
    could still succeed against whatever already holds the port (a stale stack, say).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: connections of a killed predecessor lingering in
        # TIME_WAIT do not count, a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StackError(
                f"{owner}: port {host}:{port} is already in use ({exc.strerror}); "
                "is another stack running? choose other ports"
            ) from exc


def stop_process(proc: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM `proc`, wait up to `grace` seconds, then SIGKILL; return its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return proc.wait()


def log_tail(path: Path | None, lines: int = 30) -> str:
    """The last `lines` lines of a log file, or a note when there is none."""
    if path is None:
        return "(output not captured: no log folder given)"
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def rotate_log(path: Path) -> None:
    """Keep one previous generation of a log (`name.log` -> `name.log.1`)."""
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
