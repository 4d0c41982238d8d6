"""Intake's composition root: the only place its objects are built."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from alamal_contracts.topics import (
    CASE_CLOSED,
    CASES_FAMILY_ERASED,
    CONSENT_CHANGED,
    FAMILY_ERASURE_REQUESTED,
    FAMILY_REASSIGNED,
    FAMILY_REGISTERED,
    NOTIFICATIONS_FAMILY_ERASED,
    REFERRAL_ESCALATED,
    REPORTING_FAMILY_ERASED,
)
from alamal_intake import (
    api,
    assignment_api,
    audit,
    audit_api,
    closures,
    consent_api,
    family_api,
    retention,
    store,
)
from alamal_intake.privacy import api as privacy_api
from alamal_intake.privacy import monitor, service
from alamal_intake.privacy import store as privacy_store
from alamal_intake.settings import IntakeSettings
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: IntakeSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the intake service: store, broker, outbox relay and HTTP API."""
    runtime = ServiceRuntime(
        settings,
        service="intake",
        publishes=[FAMILY_REGISTERED, CONSENT_CHANGED, FAMILY_REASSIGNED, FAMILY_ERASURE_REQUESTED],
        telemetry=telemetry,
        sealed=store.SEALED,
    )
    runtime.on_start(store.prepare)
    runtime.on_start(audit.prepare_audit)
    runtime.on_start(privacy_store.prepare)
    # Reports to Veilig Thuis put a family on legal hold; the other services confirm erasures.
    runtime.consume(REFERRAL_ESCALATED, service.on_referral_escalated)
    for confirmation in (CASES_FAMILY_ERASED, NOTIFICATIONS_FAMILY_ERASED, REPORTING_FAMILY_ERASED):
        runtime.consume(confirmation, service.on_family_erased)
    # Retention: when each family's case closed; the closed-case rule erases past its length.
    runtime.consume(CASE_CLOSED, closures.on_case_closed)
    runtime.retain(retention.ClosedCaseRule())
    within = timedelta(seconds=settings.erasure_confirm_within_seconds)
    erasures = monitor.ErasureMonitor(
        runtime.store,
        within=within,
        meter_provider=runtime.telemetry.meter_provider,
        interval_seconds=settings.erasure_check_seconds,
    )
    app = runtime.create_app(
        title="Al Amal intake",
        routers=[
            api.router,
            family_api.router,
            consent_api.router,
            assignment_api.router,
            audit_api.router,
            privacy_api.router,
            monitor.router,
        ],
    )
    app.state.privacy = privacy_api.PrivacySettings(confirm_within=within)
    app.state.erasure_monitor = erasures
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app_):
            sampler = asyncio.create_task(erasures.run(), name="intake-erasure-monitor")
            try:
                yield
            finally:
                sampler.cancel()
                await asyncio.gather(sampler, return_exceptions=True)

    app.router.lifespan_context = lifespan
    return app
