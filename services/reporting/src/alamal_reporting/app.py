"""Reporting' composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_reporting.settings import ReportingSettings
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: ReportingSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the reporting service (so far: health endpoints only)."""
    runtime = ServiceRuntime(settings, service="reporting", telemetry=telemetry)
    return runtime.create_app(title="Al Amal reporting", routers=[])
