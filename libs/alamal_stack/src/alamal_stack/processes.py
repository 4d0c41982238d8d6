"""Child-process helpers shared by the broker and the services: ports, stopping, log tails."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

LOCALHOST = "127.0.0.1"


class StackError(RuntimeError):
    """The embedded stack could not start or keep a process running."""


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
