"""Notifications' composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: NotificationsSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the notifications service (so far: health endpoints only)."""
    runtime = ServiceRuntime(settings, service="notifications", telemetry=telemetry)
    return runtime.create_app(title="Al Amal notifications", routers=[])
