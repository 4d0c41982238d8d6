"""The thin program entry point every service shares: settings, logging, uvicorn."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections.abc import Callable

import structlog
import uvicorn
from fastapi import FastAPI

from alamal_runtime.crypto import KeyringError
from alamal_runtime.logging import configure_logging
from alamal_runtime.settings import ServiceSettings

EXIT_CONFIG = 78
"""sysexits' EX_CONFIG: the service refuses to start with the configuration it was given."""


def build[S: ServiceSettings](settings: S, create_app: Callable[[S], FastAPI]) -> FastAPI:
    """Build the app and check its keys; SystemExit(78) with a clear message when refused."""
    try:
        app = create_app(settings)
        runtime = getattr(app.state, "runtime", None)
        if runtime is not None:
            asyncio.run(runtime.preflight())
    except KeyringError as exc:
        structlog.get_logger(__name__).error("refused_to_start", reason=str(exc))
        sys.stderr.write(f"{settings.service_name} refuses to start: {exc}\n")
        raise SystemExit(EXIT_CONFIG) from None
    return app


def serve[S: ServiceSettings](
    settings_type: Callable[[], S], create_app: Callable[[S], FastAPI]
) -> None:
    """Read settings from the environment and serve the app until SIGINT/SIGTERM."""
    settings = settings_type()
    configure_logging(settings.service_name, settings.log_level)
    server = uvicorn.Server(uvicorn_config(settings, build(settings, create_app)))
    if settings.exit_with_pid is not None:
        _exit_with(settings.exit_with_pid, server)
    server.run(sockets=inherited_sockets(settings) or None)


def inherited_sockets(settings: ServiceSettings) -> list[socket.socket]:
    """The listening sockets the embedded stack's runner handed over (none elsewhere)."""
    numbers = [int(part) for part in settings.http_socket_fds.split(",") if part]
    return [socket.socket(fileno=number) for number in numbers]


def _exit_with(pid: int, server: uvicorn.Server, *, every: float = 1.0) -> None:
    """Stop the server gracefully (as SIGTERM does) once process `pid` is gone."""

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(every):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                server.should_exit = True
                return
            except PermissionError:
                continue  # exists, owned by someone else

    threading.Thread(target=watch, name="exit-with-runner", daemon=True).start()


def uvicorn_config(settings: ServiceSettings, app: FastAPI) -> uvicorn.Config:
    """How uvicorn serves a service: forwarded headers only from the proxies named in settings.

    uvicorn's own default trusts X-Forwarded-For from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), so
    any local process could pick the client address per request (and dodge a per-address
    login limit). Here nothing is trusted unless `forwarded_allow_ips` names the proxy.
    """
    trusted = [part.strip() for part in settings.forwarded_allow_ips.split(",") if part.strip()]
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
    )
