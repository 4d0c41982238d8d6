"""A stand-in service for the runner's tests: `python -m fake_service` (PYTHONPATH=tests).

Reads the runner's environment contract (prefix `FAKE_`), counts its starts in its SQLite
store (so a test can see data survive a restart), serves `/health/ready`, `/info`, `/crash` on
the listening sockets the runner hands over.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "FAKE_"


def _count_start(store_url: str) -> int:
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS starts (pid INTEGER)")
        db.execute("INSERT INTO starts VALUES (?)", (os.getpid(),))
        count: int = db.execute("SELECT count(*) FROM starts").fetchone()[0]
        return count


def main() -> None:
    """Serve until SIGTERM."""
    env = os.environ
    if env.get("FAKE_FAIL_AT_START"):
        sys.stderr.write("fake service: failing at start as asked\n")
        raise SystemExit(3)
    starts = _count_start(env[PREFIX + "STORE_URL"])
    info = {
        "starts": starts,
        "pid": os.getpid(),
        "env": {k: v for k, v in env.items() if k.startswith((PREFIX, "OTEL_"))},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/crash":
                os._exit(7)
            if self.path == "/health/ready":
                self._send(200, {"status": "ready"})
            elif self.path == "/info":
                self._send(200, info)
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write("fake service: " + (format % args) + "\n")

    # The runner binds the ports and hands them over (the service's shared one and this
    # replica's own); each is served by its own server thread.
    servers = []
    for fd in env[PREFIX + "HTTP_SOCKET_FDS"].split(","):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=int(fd))
        servers.append(server)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"fake service: listening, start #{starts}\n")
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    servers[0].serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
