"""Admin API: webhook endpoints per partner, their test delivery and secret rotation."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Response

from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.deps import AdminDep, Services, ServicesDep
from alamal_notifications.domain.delivery import (
    TEST_EVENT_TYPE,
    EventType,
    FilterField,
    Subscription,
    encode,
)
from alamal_notifications.schemas import (
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    RotateIn,
    RotateOut,
)
from alamal_notifications.secretbox import new_webhook_secret
from alamal_notifications.ssrf import UnsafeURLError, resolve_checked
from alamal_runtime.http import HTTPProblem, field_error

router = APIRouter(tags=["endpoints"])
log = structlog.get_logger(__name__)
ENDPOINT_NOT_FOUND = "endpoint not found"
UNVERIFIED = "unverified"
"""The disabled reason of an endpoint no signed test has reached yet."""


def _subscription(
    event_types: list[EventType], filters: dict[FilterField, list[str]]
) -> Subscription:
    return Subscription(
        event_types=frozenset(event_types), filters={k: frozenset(v) for k, v in filters.items()}
    )


@router.post("/partners/{partner_id}/endpoints", status_code=201, response_model=EndpointCreated)
async def create_endpoint(
    partner_id: uuid.UUID, body: EndpointIn, _: AdminDep, services: ServicesDep, response: Response
) -> EndpointCreated:
    """Register an endpoint, disabled: nothing is sent to it (no test either) until its verify
    action. The signing secret is in this answer only: hand it to the partner first."""
    settings = services.settings
    if await services.store.get(repo.PARTNERS, str(partner_id)) is None:
        raise HTTPProblem(404, "partner not found")
    try:
        await resolve_checked(
            body.url, require_https=settings.profile == "prod", allowed=settings.allowed_networks()
        )
    except UnsafeURLError as exc:
        raise field_error("url", str(exc)) from None
    secret = new_webhook_secret()
    now = datetime.now(UTC)
    endpoint = repo.Endpoint(
        id=str(uuid.uuid4()),
        partner_id=str(partner_id),
        url=body.url,
        subscription=_subscription(body.event_types, body.filters),
        description=body.description,
        enabled=False,
        secrets=(repo.SigningSecret(sealed=services.box.seal(secret), created_at=now.timestamp()),),
        created_at=now,
        disabled_reason=UNVERIFIED,
    )
    async with services.store.transaction() as uow:
        partner = await repo.get_partner(uow, str(partner_id))
        if partner is None:
            raise HTTPProblem(404, "partner not found")
        await repo.put_endpoint(uow, endpoint)
        await repo.put_partner(
            uow, replace(partner, endpoint_ids=(*partner.endpoint_ids, endpoint.id))
        )
    log.info("endpoint_created", endpoint_id=endpoint.id, partner_id=endpoint.partner_id)
    response.headers["Location"] = f"/endpoints/{endpoint.id}"
    view = EndpointOut.of(endpoint, now=time.time())
    return EndpointCreated(**view.model_dump(), secret=secret)


@router.post("/endpoints/{endpoint_id}/verify", response_model=EndpointOut)
async def verify_endpoint(
    endpoint_id: uuid.UUID, _: AdminDep, services: ServicesDep
) -> EndpointOut:
    """Send the signed `webhook.test` now (with every active secret); a 2xx marks the endpoint
    verified and enables it. Anything else is a 409 with the reason, and it stays disabled.
    The attempt is in the endpoint's delivery log either way."""
    endpoint = await _endpoint(services, endpoint_id)
    message_id = messages.new_message_id()
    now = datetime.now(UTC)
    body = encode(
        {
            "type": TEST_EVENT_TYPE,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"endpoint_id": endpoint.id, "partner_id": endpoint.partner_id},
        }
    )
    secrets = [services.box.open(s.sealed) for s in endpoint.active_secrets(now.timestamp())]
    outcome = await services.sender.send(
        endpoint.url, msg_id=message_id, body=body, secrets=secrets
    )
    async with services.store.transaction() as uow:
        current = await repo.get_endpoint(uow, endpoint.id)
        if current is None:
            raise HTTPProblem(404, ENDPOINT_NOT_FOUND)
        await messages.add_attempt(
            uow,
            messages.Attempt(
                id=str(uuid.uuid4()),
                endpoint_id=current.id,
                message_id=message_id,
                at=now.timestamp(),
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                response_excerpt=outcome.excerpt,
                trigger="verify",
            ),
        )
        if outcome.ok:
            current = replace(
                current,
                enabled=True,
                verified_at=now,
                disabled_reason=None,
                failing_since=None,
            )
            await repo.put_endpoint(uow, current)
    if not outcome.ok:
        reason = outcome.error or f"http_{outcome.status_code}"
        log.info("endpoint_verification_failed", endpoint_id=endpoint.id, reason=reason)
        raise HTTPProblem(
            409,
            f"the signed test delivery failed ({reason}); the endpoint stays disabled: check "
            "that the receiver verifies with the secret it was given, then verify again",
        )
    log.info("endpoint_verified", endpoint_id=endpoint.id)
    services.dispatcher.wake()
    return EndpointOut.of(current, now=time.time())


async def _endpoint(services: Services, endpoint_id: uuid.UUID) -> repo.Endpoint:
    record = await services.store.get(repo.ENDPOINTS, str(endpoint_id))
    if record is None:
        raise HTTPProblem(404, ENDPOINT_NOT_FOUND)
    return repo.endpoint_from(record)


@router.get("/partners/{partner_id}/endpoints", response_model=list[EndpointOut])
async def list_endpoints(
    partner_id: uuid.UUID, _: AdminDep, services: ServicesDep
) -> list[EndpointOut]:
    """A partner's endpoints."""
    records = await services.store.find(
        repo.ENDPOINTS, {"partner_id": str(partner_id)}, order_by="id", limit=1000
    )
    now = time.time()
    return [EndpointOut.of(repo.endpoint_from(r), now=now) for r in records]


@router.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def read_endpoint(endpoint_id: uuid.UUID, _: AdminDep, services: ServicesDep) -> EndpointOut:
    """One endpoint."""
    record = await services.store.get(repo.ENDPOINTS, str(endpoint_id))
    if record is None:
        raise HTTPProblem(404, ENDPOINT_NOT_FOUND)
    return EndpointOut.of(repo.endpoint_from(record), now=time.time())


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    endpoint_id: uuid.UUID, body: EndpointPatch, _: AdminDep, services: ServicesDep
) -> EndpointOut:
    """Change subscriptions, description or the enabled flag (enabling clears the failures)."""
    async with services.store.transaction() as uow:
        endpoint = await repo.get_endpoint(uow, str(endpoint_id))
        if endpoint is None:
            raise HTTPProblem(404, ENDPOINT_NOT_FOUND)
        current = endpoint.subscription
        subscription = _subscription(
            list(current.event_types) if body.event_types is None else body.event_types,
            {k: list(v) for k, v in current.filters.items()}
            if body.filters is None
            else body.filters,
        )
        changed = replace(
            endpoint,
            subscription=subscription,
            description=endpoint.description if body.description is None else body.description,
        )
        if body.enabled is True and not endpoint.enabled:
            if endpoint.verified_at is None:
                raise HTTPProblem(409, "verify the endpoint first: POST /endpoints/{id}/verify")
            changed = replace(changed, enabled=True, disabled_reason=None, failing_since=None)
        elif body.enabled is False:
            changed = replace(changed, enabled=False, disabled_reason="admin")
        await repo.put_endpoint(uow, changed)
    log.info("endpoint_updated", endpoint_id=changed.id, enabled=changed.enabled)
    if changed.enabled:
        services.dispatcher.wake()
    return EndpointOut.of(changed, now=time.time())


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=RotateOut)
async def rotate_secret(
    endpoint_id: uuid.UUID, body: RotateIn, _: AdminDep, services: ServicesDep
) -> RotateOut:
    """A new secret, shown once; the previous one keeps signing (both are sent) until it expires."""
    overlap = (
        services.settings.rotation_overlap_seconds
        if body.overlap_seconds is None
        else body.overlap_seconds
    )
    now = time.time()
    secret = new_webhook_secret()
    async with services.store.transaction() as uow:
        endpoint = await repo.get_endpoint(uow, str(endpoint_id))
        if endpoint is None:
            raise HTTPProblem(404, ENDPOINT_NOT_FOUND)
        expires = now + overlap
        kept = tuple(
            s if s.expires_at is not None else replace(s, expires_at=expires)
            for s in endpoint.active_secrets(now)
        )
        fresh = repo.SigningSecret(sealed=services.box.seal(secret), created_at=now)
        await repo.put_endpoint(uow, replace(endpoint, secrets=(fresh, *kept)))
    log.info("endpoint_secret_rotated", endpoint_id=str(endpoint_id))
    return RotateOut(secret=secret, previous_expires_at=datetime.fromtimestamp(expires, UTC))
