"""Gateway' composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_gateway.settings import GatewaySettings
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: GatewaySettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the gateway service (so far: health endpoints only)."""
    runtime = ServiceRuntime(settings, service="gateway", telemetry=telemetry)
    return runtime.create_app(title="Al Amal gateway", routers=[])
