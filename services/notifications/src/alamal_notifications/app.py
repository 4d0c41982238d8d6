"""Notifications' composition root: the only place its objects are built."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from alamal_contracts.topics import (
    CONSENT_CHANGED,
    ENDPOINT_DISABLED,
    FAMILY_ERASURE_REQUESTED,
    FAMILY_REGISTERED,
    NOTIFICATIONS_FAMILY_ERASED,
    PARTNER_CHANGED,
    PARTNER_REGISTERED,
    PARTNER_STATUS_REPORTED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
)
from alamal_notifications import (
    credentials_api,
    deliveries_api,
    endpoints_api,
    messages,
    partner_api,
    partner_facts,
    partners_api,
    privacy,
    privacy_api,
    retention,
    store,
)
from alamal_notifications.delivery_slots import DeliverySlots
from alamal_notifications.deps import Services
from alamal_notifications.dispatcher import Dispatcher
from alamal_notifications.endpoint_metrics import DisabledEndpointsGauge
from alamal_notifications.handlers import Handlers
from alamal_notifications.metrics import DeliveryMetrics
from alamal_notifications.recording import Recorder
from alamal_notifications.secretbox import load_secret_box
from alamal_notifications.sender import Sender
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.audit import prepare_audit
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.telemetry import Telemetry


def create_app(settings: NotificationsSettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the notifications service: consumers, delivery loop, admin and partner APIs."""
    box = load_secret_box(settings)  # refuses to start without a usable key
    runtime = ServiceRuntime(
        settings,
        service="notifications",
        publishes=[
            PARTNER_STATUS_REPORTED,
            ENDPOINT_DISABLED,
            PARTNER_REGISTERED,
            PARTNER_CHANGED,
            NOTIFICATIONS_FAMILY_ERASED,
        ],
        telemetry=telemetry,
    )

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            follow_redirects=False,
            timeout=settings.delivery_timeout_seconds,
            limits=httpx.Limits(
                max_connections=settings.per_endpoint_concurrency * 2,
                max_keepalive_connections=settings.per_endpoint_concurrency * 2,
            ),
            trust_env=False,  # never route webhooks through a proxy from the environment
        )

    sender = Sender(
        client,
        require_https=settings.profile == "prod",
        allowed=settings.allowed_networks(),
        timeout=settings.delivery_timeout_seconds,
        excerpt_bytes=settings.response_excerpt_bytes,
    )
    dispatcher = Dispatcher(
        store=runtime.store,
        sender=sender,
        box=box,
        recorder=Recorder(runtime.store, settings, random.Random()),  # noqa: S311 - jitter only
        metrics=DeliveryMetrics(runtime.telemetry.meter_provider),
        settings=settings,
        tracer=runtime.telemetry.tracer_provider.get_tracer("alamal.notifications"),
        slots=DeliverySlots(
            runtime.store,
            holder=runtime.instance,
            slots=settings.delivery_slots,
            ttl_seconds=settings.delivery_lease_seconds,
        ),
    )
    disabled_gauge = DisabledEndpointsGauge(runtime.store, runtime.telemetry.meter_provider)
    handlers = Handlers(public_base_url=settings.public_base_url, wake=dispatcher.wake)
    runtime.on_start(store.prepare)
    runtime.on_start(messages.prepare)
    for rule in retention.RULES:
        runtime.retain(rule)
    runtime.on_start(partner_facts.announce_at_start)
    runtime.on_start(store.stamp_unlisted_referrals)
    runtime.consume(REFERRAL_ESCALATED, handlers.on_referral_escalated)
    runtime.consume(REFERRAL_UPDATED, handlers.on_referral_updated)
    runtime.consume(CONSENT_CHANGED, handlers.on_consent_changed)
    runtime.on_start(privacy.prepare)
    runtime.on_start(prepare_audit)
    runtime.consume(
        FAMILY_ERASURE_REQUESTED,
        privacy.Eraser(
            runtime.store, public_base_url=settings.public_base_url, wake=dispatcher.wake
        ),
    )
    runtime.consume(FAMILY_REGISTERED, handlers.on_family_registered)
    app = runtime.create_app(
        title="Al Amal notifications",
        routers=[
            credentials_api.router,
            partners_api.router,
            endpoints_api.router,
            deliveries_api.router,
            deliveries_api.overview,
            partner_api.router,
            privacy_api.router,
        ],
    )
    app.state.notifications = Services(
        store=runtime.store, settings=settings, box=box, sender=sender, dispatcher=dispatcher
    )
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        # The delivery loop runs inside the runtime's lifespan: after the store opens, and it
        # stops (letting requests in flight finish) before the store closes.
        async with service_lifespan(app_):
            await dispatcher.start()
            gauge = asyncio.create_task(disabled_gauge.run(), name="endpoint-metrics")
            try:
                yield
            finally:
                gauge.cancel()
                await asyncio.gather(gauge, return_exceptions=True)
                await dispatcher.stop()
                await sender.aclose()

    app.router.lifespan_context = lifespan
    return app
