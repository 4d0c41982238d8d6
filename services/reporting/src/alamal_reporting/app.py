"""Reporting's composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_contracts.topics import FAMILY_ERASURE_REQUESTED, REPORTING_FAMILY_ERASED
from alamal_reporting import api, privacy, privacy_api
from alamal_reporting.handlers import CONSUMED_TOPICS, Projector
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.audit import prepare_audit
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: ReportingSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the reporting service: event consumers, projection store and report API."""
    runtime = ServiceRuntime(
        settings, service="reporting", publishes=[REPORTING_FAMILY_ERASED], telemetry=telemetry
    )
    runtime.on_start(prepare_audit)
    projector = Projector(runtime.telemetry.meter_provider.get_meter("alamal.reporting"))
    for topic in CONSUMED_TOPICS:
        runtime.consume(topic, projector)
    runtime.consume(FAMILY_ERASURE_REQUESTED, privacy.Eraser(runtime.store))
    return runtime.create_app(title="Al Amal reporting", routers=[api.router, privacy_api.router])
