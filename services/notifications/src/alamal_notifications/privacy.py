"""A family's data in notifications: its export (AVG art. 15) and its erasure (art. 17, 19).

Notifications holds, per family, the referrals as their partners saw them, the webhook messages
and delivery attempts of those referrals and the consent projection. An erasure tells every
partner that received one of the family's referrals (a signed `referral.erasure-requested`
webhook to each of its enabled endpoints, AVG art. 19), keeps a tombstone per referral (ids
only) so that the partner API answers 410 Gone for it, deletes the referral projection and
those referrals' messages and attempts (adding them to per-endpoint counts first, so delivery
totals stay right) and confirms with `notifications.family-erased.v1`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import FamilyErasureRequested, NotificationsFamilyErased
from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.domain.delivery import encode
from alamal_notifications.domain.referrals import ReferralView
from alamal_notifications.handlers import details_url, queue_to_partner
from alamal_notifications.messages import Message
from alamal_notifications.operational import SOURCE
from alamal_runtime.audit import audit_of_family
from alamal_runtime.erasure import forget_family, mark_erased
from alamal_runtime.events import emit
from alamal_runtime.privacy import export_document, jsonable
from alamal_runtime.store import Store, UnitOfWork

ERASURE_REQUESTED = "referral.erasure-requested"
"""The webhook type that tells a partner to erase what it holds about a referral."""
ERASED_REFERRALS = "erased_referrals"
"""One tombstone per erased referral: `{partner_id, request_id, erased_at}` (ids only)."""
ERASED_COUNTS = "erased_delivery_counts"
"""Per endpoint, the messages (by state) and attempts deleted with erased referrals."""
MAX_READ = 100_000
log = structlog.get_logger(__name__)


async def prepare(store: Store) -> None:
    """Indexes the family's referrals and their messages are found by."""
    await store.ensure_index(repo.REFERRALS, ["family_id"])
    await store.ensure_index(messages.MESSAGES, ["referral_id"])


async def referrals_of_family(store: Store, family_id: str) -> list[ReferralView]:
    """The family's referrals as notifications projected them."""
    records = await store.find(repo.REFERRALS, {"family_id": family_id}, limit=MAX_READ)
    return [repo.referral_from(r) for r in records]


async def messages_of(store: Store, referral_id: str) -> list[Message]:
    """Every webhook message about one referral."""
    records = await store.find(messages.MESSAGES, {"referral_id": referral_id}, limit=MAX_READ)
    return [messages.message_from(r) for r in records]


def _message_out(message: Message, attempts: list[messages.Attempt]) -> dict[str, Any]:
    """A delivery as the family may see it: when, to whom, how it went; no body, no secret."""
    return {
        "message_id": message.id,
        "endpoint_id": message.endpoint_id,
        "event_type": message.event_type,
        "state": message.state.value,
        "created_at": datetime.fromtimestamp(message.created_at, UTC).isoformat(),
        "attempts": [
            {
                "at": datetime.fromtimestamp(a.at, UTC).isoformat(),
                "status_code": a.status_code,
                "error": a.error,
            }
            for a in sorted(attempts, key=lambda a: a.at)
        ],
    }


async def export_family(store: Store, family_id: str) -> dict[str, Any]:
    """The family's referrals as partners saw them (with the partner's name and kind), every
    delivery of them, the consent projection and notifications' access audit of the family."""
    referrals = []
    for view in await referrals_of_family(store, family_id):
        partner = await repo.get_partner(store, view.partner_id)
        deliveries = []
        for message in await messages_of(store, view.referral_id):
            attempts = await messages.attempts_of(store, message_id=message.id, limit=MAX_READ)
            deliveries.append(_message_out(message, attempts))
        referrals.append(
            {
                "referral": jsonable(view),
                "partner": None
                if partner is None
                else {"id": partner.id, "name": partner.name, "kind": partner.kind.value},
                "deliveries": sorted(deliveries, key=lambda d: d["created_at"]),
            }
        )
    consents = {
        purpose.value: jsonable(state)
        for purpose in ConsentPurpose
        if (state := await repo.get_consent(store, family_id, purpose)) is not None
    }
    return export_document(
        "notifications",
        family_id,
        referrals=referrals,
        consents=consents,
        access_audit=jsonable(await audit_of_family(store, family_id, limit=MAX_READ)),
    )


def erasure_body(view: ReferralView, *, base_url: str, at: datetime) -> str:
    """The signed webhook body that asks the partner to erase what it holds on a referral."""
    return encode(
        {
            "type": ERASURE_REQUESTED,
            "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": {
                "referral_id": view.referral_id,
                "partner_id": view.partner_id,
                "url": details_url(base_url, view.referral_id),
            },
        }
    )


class Eraser:
    """Handles `intake.family-erasure-requested.v1` (tells partners, erases, confirms)."""

    def __init__(self, store: Store, *, public_base_url: str, wake: Callable[[], None]) -> None:
        self._store = store
        self._base_url = public_base_url
        self._wake = wake

    async def __call__(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """All in this unit of work; a redelivered request changes nothing."""
        requested = event.data
        if not isinstance(requested, FamilyErasureRequested):
            raise TypeError(f"expected FamilyErasureRequested, got {type(requested).__name__}")
        family_id, request_id = requested.family_id, requested.request_id
        now = datetime.now(UTC)
        if not await mark_erased(uow, family_id, request_id, now=now):
            log.info("erasure_already_done", request_id=request_id)
            return
        # Committed state is complete here: no other unit of work commits meanwhile, and the
        # marker makes the consumers skip the family's events from now on.
        told = deleted = 0
        for view in await referrals_of_family(self._store, family_id):
            await self._forget_deliveries(uow, view.referral_id)
            told += await self._tell_partner(uow, view, now)
            await uow.insert(
                ERASED_REFERRALS,
                view.referral_id,
                {
                    "partner_id": view.partner_id,
                    "request_id": request_id,
                    "erased_at": now.isoformat(),
                },
            )
            deleted += int(await uow.delete(repo.REFERRALS, view.referral_id))
        for purpose in ConsentPurpose:
            deleted += int(await uow.delete(repo.CONSENTS, repo.consent_id(family_id, purpose)))
        deleted += await forget_family(uow, family_id)
        emit(
            uow,
            NotificationsFamilyErased(family_id=family_id, request_id=request_id),
            source=SOURCE,
        )
        log.info("family_erased", request_id=request_id, documents=deleted, partners_told=told)
        if told:
            self._wake()

    async def _forget_deliveries(self, uow: UnitOfWork, referral_id: str) -> None:
        """Delete the referral's messages and attempts, counted per endpoint first."""
        per_endpoint: dict[str, Counter[str]] = {}
        for message in await messages_of(self._store, referral_id):
            counts = per_endpoint.setdefault(message.endpoint_id, Counter())
            counts[message.state.value] += 1
            counts["attempts"] += await uow.delete_where(
                messages.ATTEMPTS, {"message_id": message.id}
            )
            await uow.delete(messages.MESSAGES, message.id)
        for endpoint_id, counts in per_endpoint.items():
            record = await uow.get(ERASED_COUNTS, endpoint_id)
            total = Counter(record.data if record else {}) + counts
            if record is None:
                await uow.insert(ERASED_COUNTS, endpoint_id, dict(total))
            else:
                await uow.replace(
                    ERASED_COUNTS, endpoint_id, dict(total), expected_version=record.version
                )

    async def _tell_partner(self, uow: UnitOfWork, view: ReferralView, at: datetime) -> int:
        """Queue the erasure webhook to every enabled endpoint of the referral's partner."""
        partner = await repo.get_partner(uow, view.partner_id)
        if partner is None:
            return 0
        # Sent whatever the endpoints subscribed to: the partner must be told (art. 19).
        return await queue_to_partner(
            uow,
            partner,
            event_type=ERASURE_REQUESTED,
            referral_id=view.referral_id,
            body=erasure_body(view, base_url=self._base_url, at=at),
        )


async def erased_referral(reader: repo.Reader, referral_id: str) -> str | None:
    """The partner an erased referral was addressed to, or None if it was not erased."""
    record = await reader.get(ERASED_REFERRALS, referral_id)
    return None if record is None else str(record.data["partner_id"])
