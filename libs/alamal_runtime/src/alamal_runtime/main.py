"""The thin program entry point every service shares: settings, logging, uvicorn."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from alamal_runtime.logging import configure_logging
from alamal_runtime.settings import ServiceSettings


def serve[S: ServiceSettings](
    settings_type: Callable[[], S], create_app: Callable[[S], FastAPI]
) -> None:
    """Read settings from the environment and serve the app until SIGINT/SIGTERM."""
    settings = settings_type()
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
