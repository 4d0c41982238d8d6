"""Cases' composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_cases import api, handlers, referral_store, referrals_api, store, visits_api
from alamal_cases.settings import CasesSettings
from alamal_contracts.topics import (
    CASE_OPENED,
    CONSENT_CHANGED,
    FAMILY_REGISTERED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
    VISIT_LOGGED,
)
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: CasesSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the cases service: consumers, store, outbox relay and HTTP API."""
    runtime = ServiceRuntime(
        settings,
        service="cases",
        publishes=[CASE_OPENED, VISIT_LOGGED, REFERRAL_ESCALATED, REFERRAL_UPDATED],
        telemetry=telemetry,
    )
    runtime.on_start(store.prepare)
    runtime.on_start(referral_store.prepare)
    runtime.consume(FAMILY_REGISTERED, handlers.on_family_registered)
    runtime.consume(CONSENT_CHANGED, handlers.on_consent_changed)
    return runtime.create_app(
        title="Al Amal cases",
        routers=[api.router, visits_api.router, referrals_api.router],
    )
