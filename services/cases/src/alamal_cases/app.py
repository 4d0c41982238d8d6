"""Cases' composition root: the only place its objects are built."""

from __future__ import annotations

from fastapi import FastAPI

from alamal_cases import (
    api,
    audit_api,
    coordination_api,
    coordination_store,
    handlers,
    held_visit_store,
    held_visits_api,
    plan_api,
    plan_store,
    privacy,
    privacy_api,
    referral_store,
    referrals_api,
    sealing,
    store,
    timeline_api,
    visits_api,
)
from alamal_cases.retention import PrivateNotesRule
from alamal_cases.settings import CasesSettings
from alamal_contracts.topics import (
    CASE_CLOSED,
    CASE_OPENED,
    CASES_FAMILY_ERASED,
    CONSENT_CHANGED,
    FAMILY_ERASURE_REQUESTED,
    FAMILY_REASSIGNED,
    FAMILY_REGISTERED,
    GOAL_UPDATED,
    PARTNER_CHANGED,
    PARTNER_REGISTERED,
    PARTNER_STATUS_REPORTED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
    VISIT_LOGGED,
)
from alamal_runtime.audit import prepare_audit
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: CasesSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the cases service: consumers, store, outbox relay and HTTP API."""
    runtime = ServiceRuntime(
        settings,
        service="cases",
        publishes=[
            CASE_OPENED,
            CASE_CLOSED,
            VISIT_LOGGED,
            GOAL_UPDATED,
            REFERRAL_ESCALATED,
            REFERRAL_UPDATED,
            CASES_FAMILY_ERASED,
        ],
        telemetry=telemetry,
        sealed=sealing.SEALED,
    )
    runtime.on_start(store.prepare)
    runtime.on_start(referral_store.prepare)
    runtime.on_start(plan_store.prepare)
    runtime.on_start(coordination_store.prepare)
    runtime.on_start(held_visit_store.prepare)
    runtime.on_start(prepare_audit)
    runtime.retain(PrivateNotesRule())
    runtime.consume(FAMILY_REGISTERED, handlers.on_family_registered)
    runtime.consume(CONSENT_CHANGED, handlers.on_consent_changed)
    runtime.consume(FAMILY_REASSIGNED, handlers.on_family_reassigned)
    runtime.consume(PARTNER_STATUS_REPORTED, handlers.on_partner_status_reported)
    runtime.consume(FAMILY_ERASURE_REQUESTED, privacy.Eraser(runtime.store))
    runtime.consume(PARTNER_REGISTERED, handlers.on_partner_fact)
    runtime.consume(PARTNER_CHANGED, handlers.on_partner_fact)
    return runtime.create_app(
        title="Al Amal cases",
        routers=[
            api.router,
            visits_api.router,
            plan_api.router,
            referrals_api.router,
            audit_api.router,
            coordination_api.router,
            timeline_api.router,
            privacy_api.router,
            held_visits_api.router,
        ],
    )
