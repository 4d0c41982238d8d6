"""Reporting's composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_reporting import api
from alamal_reporting.handlers import CONSUMED_TOPICS, Projector
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: ReportingSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the reporting service: event consumers, projection store and report API."""
    runtime = ServiceRuntime(settings, service="reporting", telemetry=telemetry)
    projector = Projector(runtime.telemetry.meter_provider.get_meter("alamal.reporting"))
    for topic in CONSUMED_TOPICS:
        runtime.consume(topic, projector)
    return runtime.create_app(title="Al Amal reporting", routers=[api.router])
