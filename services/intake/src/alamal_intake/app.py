"""Intake's composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_contracts.topics import CONSENT_CHANGED, FAMILY_REASSIGNED, FAMILY_REGISTERED
from alamal_intake import (
    api,
    assignment_api,
    audit,
    audit_api,
    consent_api,
    family_api,
    store,
)
from alamal_intake.settings import IntakeSettings
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: IntakeSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the intake service: store, broker, outbox relay and HTTP API."""
    runtime = ServiceRuntime(
        settings,
        service="intake",
        publishes=[FAMILY_REGISTERED, CONSENT_CHANGED, FAMILY_REASSIGNED],
        telemetry=telemetry,
        sealed=store.SEALED,
    )
    runtime.on_start(store.prepare)
    runtime.on_start(audit.prepare_audit)
    return runtime.create_app(
        title="Al Amal intake",
        routers=[
            api.router,
            family_api.router,
            consent_api.router,
            assignment_api.router,
            audit_api.router,
        ],
    )
