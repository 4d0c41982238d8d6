"""Notifications' event handlers: the referral projection, consents, and queueing webhooks.

Each runs inside a unit of work that also claims the event's inbox id, so a redelivered event
queues no second webhook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from opentelemetry import propagate

from alamal_contracts.codes import SHARE_PURPOSE, ConsentPurpose, ReferralStatus
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import (
    ConsentChanged,
    FamilyRegistered,
    PartnerStatusReported,
    ReferralEscalated,
    ReferralUpdated,
)
from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.domain.delivery import EventType, encode, payload
from alamal_notifications.domain.referrals import (
    SENT,
    ConsentState,
    ReferralView,
    merge_escalation,
    merge_status,
    newer_consent,
)
from alamal_notifications.gate import details_shared
from alamal_notifications.messages import Message, State
from alamal_notifications.operational import SOURCE
from alamal_runtime.events import emit
from alamal_runtime.store import UnitOfWork

log = structlog.get_logger(__name__)


def details_url(base_url: str, referral_id: str) -> str:
    """Where a partner fetches a referral through the partner API."""
    return f"{base_url.rstrip('/')}/partner/v1/referrals/{referral_id}"


PARTNER_INACTIVE = "partner-inactive"
"""Outcome code of a referral sent to a partner deactivated before cases learnt of it."""


def _declined_for_inactive_partner(uow: UnitOfWork, view: ReferralView) -> ReferralView:
    """Answer a referral that reached a deactivated partner `declined` / `partner-inactive`.

    Cases refuses to send to a partner it knows is inactive (409). In the moment between an
    admin's deactivation here and cases projecting that fact, a send can still pass; nothing is
    delivered to the partner (see `_queue`), and this answer tells the trusted person so, through
    cases, instead of leaving the referral `sent` to no one. Runs once per referral: a replayed
    escalation finds the status `declined` and emits nothing.
    """
    now = datetime.now(UTC)
    emit(
        uow,
        PartnerStatusReported(
            family_id=view.family_id,
            referral_id=view.referral_id,
            partner_id=view.partner_id,
            status=ReferralStatus.DECLINED,
            outcome_code=PARTNER_INACTIVE,
            reported_at=now,
        ),
        source=SOURCE,
    )
    log.warning("referral_for_inactive_partner_declined", referral_id=view.referral_id)
    return merge_status(
        view,
        referral_id=view.referral_id,
        family_id=view.family_id,
        partner_id=view.partner_id,
        status=ReferralStatus.DECLINED.value,
        outcome_code=PARTNER_INACTIVE,
        at=now,
    )


class Handlers:
    """The handlers, bound to the public base URL and to the dispatcher's wake-up call."""

    def __init__(self, *, public_base_url: str, wake: Callable[[], None]) -> None:
        self._base_url = public_base_url
        self._wake = wake

    async def on_referral_escalated(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Project the escalation and queue a webhook to each matching endpoint of the partner."""
        escalated = event.data
        if not isinstance(escalated, ReferralEscalated):
            raise TypeError(f"expected ReferralEscalated, got {type(escalated).__name__}")
        incoming = ReferralView(
            referral_id=escalated.referral_id,
            family_id=escalated.family_id,
            partner_id=escalated.partner_id,
            status="sent",
            case_id=escalated.case_id,
            partner_kind=escalated.partner_kind,
            urgency=escalated.urgency,
            reason_codes=escalated.reason_codes,
            legal_basis=escalated.legal_basis,
            escalated_at=escalated.escalated_at,
        )
        existing = await repo.get_referral(uow, escalated.referral_id)
        if existing is not None and existing.escalated:
            # Cases escalates a referral once: the same escalation again (a replay under a new
            # event id) changes nothing and sends the partner no second webhook.
            log.info("referral_escalation_repeated", referral_id=escalated.referral_id)
            return
        view = merge_escalation(existing, incoming)
        partner = await repo.get_partner(uow, view.partner_id)
        if partner is not None and not partner.active and view.status == SENT:
            view = _declined_for_inactive_partner(uow, view)
        view = await repo.put_referral(uow, view, now=datetime.now(UTC))
        await self._queue(uow, EventType.REFERRAL_ESCALATED, view)

    async def on_referral_updated(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Project the partner's status and queue a webhook to each matching endpoint."""
        updated = event.data
        if not isinstance(updated, ReferralUpdated):
            raise TypeError(f"expected ReferralUpdated, got {type(updated).__name__}")
        existing = await repo.get_referral(uow, updated.referral_id)
        view = merge_status(
            existing,
            referral_id=updated.referral_id,
            family_id=updated.family_id,
            partner_id=updated.partner_id,
            status=updated.status.value,
            outcome_code=updated.outcome_code,
            at=updated.updated_at,
        )
        view = await repo.put_referral(uow, view, now=datetime.now(UTC))
        await self._queue(uow, EventType.REFERRAL_UPDATED, view)

    async def _queue(self, uow: UnitOfWork, event_type: EventType, view: ReferralView) -> None:
        partner = await repo.get_partner(uow, view.partner_id)
        if partner is None:
            log.warning("referral_for_unknown_partner", referral_id=view.referral_id)
            return
        if not partner.active:
            # A deactivated partner is sent nothing more (cases refuses new sends to it too).
            log.warning("referral_for_inactive_partner", referral_id=view.referral_id)
            return
        shared = await details_shared(uow, view)
        body = encode(
            payload(
                event_type.value,
                view,
                details_url=details_url(self._base_url, view.referral_id),
                at=datetime.now(UTC),
            )
        )
        queued = await queue_to_partner(
            uow,
            partner,
            event_type=event_type.value,
            referral_id=view.referral_id,
            body=body,
            wants=lambda e: e.subscription.matches(event_type, view, details_shared=shared),
        )
        log.info("webhooks_queued", referral_id=view.referral_id, count=queued)
        if queued:
            self._wake()

    async def on_consent_changed(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Keep the latest consent per family and purpose, whatever the order of arrival."""
        changed = event.data
        if not isinstance(changed, ConsentChanged):
            raise TypeError(f"expected ConsentChanged, got {type(changed).__name__}")
        incoming = ConsentState(granted=changed.granted, changed_at=changed.changed_at)
        await _merge_consent(uow, changed.family_id, changed.purpose, incoming)
        log.info("consent_projected", family_id=changed.family_id, purpose=changed.purpose.value)

    async def on_family_registered(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Fold the consent flags given at registration into the projection (as of then), so
        the gate here never has to trust the legal basis a referral event claims."""
        registered = event.data
        if not isinstance(registered, FamilyRegistered):
            raise TypeError(f"expected FamilyRegistered, got {type(registered).__name__}")
        for flag in registered.consents:
            incoming = ConsentState(granted=flag.granted, changed_at=registered.registered_at)
            await _merge_consent(uow, registered.family_id, flag.purpose, incoming)
        log.info("registration_consents_projected", family_id=registered.family_id)


SHARING: frozenset[ConsentPurpose] = frozenset(SHARE_PURPOSE.values())
"""The only purposes this service's gate reads: sharing with a kind of partner."""


async def _merge_consent(
    uow: UnitOfWork, family_id: str, purpose: ConsentPurpose, incoming: ConsentState
) -> None:
    if purpose not in SHARING:
        return  # care, reporting, ...: not this service's business
    existing = await repo.get_consent(uow, family_id, purpose)
    if newer_consent(existing, incoming):
        await repo.put_consent(uow, family_id, purpose, incoming)


async def queue_to_partner(
    uow: UnitOfWork,
    partner: repo.Partner,
    *,
    event_type: str,
    referral_id: str,
    body: str,
    wants: Callable[[repo.Endpoint], bool] = lambda _: True,
) -> int:
    """Queue `body` as a pending message to each enabled endpoint of `partner` that `wants` it,
    with the current trace context; return how many were queued. Only the partner's own
    endpoints are ever looked at."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    now = time.time()
    queued = 0
    for endpoint_id in partner.endpoint_ids:
        endpoint = await repo.get_endpoint(uow, endpoint_id)
        if endpoint is None or endpoint.partner_id != partner.id or not endpoint.enabled:
            continue
        if not wants(endpoint):
            continue
        await messages.add_message(
            uow,
            Message(
                id=messages.new_message_id(),
                endpoint_id=endpoint.id,
                partner_id=partner.id,
                event_type=event_type,
                referral_id=referral_id,
                body=body,
                state=State.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                trace_carrier=carrier,
            ),
        )
        queued += 1
    return queued
