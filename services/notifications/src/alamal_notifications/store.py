"""Notifications' repository: partners, endpoints, credentials and the referral projection."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from alamal_contracts.codes import ConsentPurpose, LegalBasis, PartnerKind, Urgency
from alamal_notifications.domain.delivery import EventType, FilterField, Subscription
from alamal_notifications.domain.referrals import ConsentState, ReferralView
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

PARTNERS = "partners"
ENDPOINTS = "endpoints"
CREDENTIALS = "credentials"
REFERRALS = "referrals"
CONSENTS = "consents"


class Reader(Protocol):
    """A store or a unit of work: both read documents by id."""

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document."""
        ...


async def prepare(store: Store) -> None:
    """Indexes the service's queries use."""
    await store.ensure_index(ENDPOINTS, ["partner_id"])
    await store.ensure_index(ENDPOINTS, ["enabled"])
    await store.ensure_index(REFERRALS, ["partner_id", "feed_key"])


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner organisation (an institution, not a person).

    `revision` counts changes of what other services know of it (kind, active), from 1;
    `announced_revision` is the revision last emitted as a partner fact (0: never), so the
    start-up backfill announces exactly the partners other services have not heard of yet.
    """

    id: str
    name: str
    kind: PartnerKind
    created_at: datetime
    endpoint_ids: tuple[str, ...] = ()
    active: bool = True
    revision: int = 1
    announced_revision: int = 0
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """One endpoint secret, encrypted; `expires_at` is set on the old one during a rotation."""

    sealed: str
    created_at: float
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A partner's webhook endpoint."""

    id: str
    partner_id: str
    url: str
    subscription: Subscription
    description: str
    enabled: bool
    secrets: tuple[SigningSecret, ...]
    created_at: datetime
    failing_since: float | None = None
    disabled_reason: str | None = None
    verified_at: datetime | None = None
    """When a signed test last reached it (2xx); None: never verified, so never enabled."""

    def active_secrets(self, now: float) -> tuple[SigningSecret, ...]:
        """The secrets to sign with now: the current one and any not yet expired."""
        return tuple(s for s in self.secrets if s.expires_at is None or s.expires_at > now)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def partner_from(record: Record) -> Partner:
    """Read a stored partner."""
    d = record.data
    return Partner(
        id=record.id,
        name=d["name"],
        kind=PartnerKind(d["kind"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        endpoint_ids=tuple(d.get("endpoint_ids", ())),
        # Partners stored before partner facts existed: active, revision 1, never announced.
        active=d.get("active", True),
        revision=d.get("revision", 1),
        announced_revision=d.get("announced_revision", 0),
        changed_at=_dt(d.get("changed_at")),
    )


def partner_doc(partner: Partner) -> Doc:
    """Serialise a partner."""
    return {
        "name": partner.name,
        "kind": partner.kind.value,
        "created_at": partner.created_at.isoformat(),
        "endpoint_ids": list(partner.endpoint_ids),
        "active": partner.active,
        "revision": partner.revision,
        "announced_revision": partner.announced_revision,
        "changed_at": _iso(partner.changed_at),
    }


def endpoint_from(record: Record) -> Endpoint:
    """Read a stored endpoint."""
    d = record.data
    return Endpoint(
        id=record.id,
        partner_id=d["partner_id"],
        url=d["url"],
        subscription=Subscription(
            event_types=frozenset(EventType(t) for t in d["event_types"]),
            filters={FilterField(k): frozenset(v) for k, v in d["filters"].items()},
        ),
        description=d["description"],
        enabled=d["enabled"],
        secrets=tuple(
            SigningSecret(
                sealed=s["sealed"], created_at=s["created_at"], expires_at=s["expires_at"]
            )
            for s in d["secrets"]
        ),
        created_at=datetime.fromisoformat(d["created_at"]),
        failing_since=d.get("failing_since"),
        disabled_reason=d.get("disabled_reason"),
        # Endpoints stored before verification existed passed a signed test when created.
        verified_at=_dt(d.get("verified_at", d["created_at"])),
    )


def endpoint_doc(endpoint: Endpoint) -> Doc:
    """Serialise an endpoint (secrets stay encrypted)."""
    return {
        "partner_id": endpoint.partner_id,
        "url": endpoint.url,
        "event_types": sorted(t.value for t in endpoint.subscription.event_types),
        "filters": {k.value: sorted(v) for k, v in endpoint.subscription.filters.items()},
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "secrets": [
            {"sealed": s.sealed, "created_at": s.created_at, "expires_at": s.expires_at}
            for s in endpoint.secrets
        ],
        "created_at": endpoint.created_at.isoformat(),
        "failing_since": endpoint.failing_since,
        "disabled_reason": endpoint.disabled_reason,
        "verified_at": _iso(endpoint.verified_at),
    }


def referral_from(record: Record) -> ReferralView:
    """Read a stored referral view."""
    d = record.data
    return ReferralView(
        referral_id=record.id,
        family_id=d["family_id"],
        partner_id=d["partner_id"],
        status=d["status"],
        case_id=d.get("case_id"),
        partner_kind=None if d.get("partner_kind") is None else PartnerKind(d["partner_kind"]),
        urgency=None if d.get("urgency") is None else Urgency(d["urgency"]),
        reason_codes=tuple(d.get("reason_codes", ())),
        legal_basis=None if d.get("legal_basis") is None else LegalBasis(d["legal_basis"]),
        escalated_at=_dt(d.get("escalated_at")),
        outcome_code=d.get("outcome_code"),
        updated_at=_dt(d.get("updated_at")),
        changed_at=_dt(d.get("changed_at")),
    )


def feed_key(changed_at: datetime, referral_id: str) -> str:
    """The reconciliation list's sort key: the change time (fixed-width UTC text) and the id,
    so keys are unique and sort as text in time order on both backends."""
    return f"{changed_at.astimezone(UTC).isoformat(timespec='microseconds')}|{referral_id}"


def since_key(since: datetime) -> str:
    """The bound of `?since=`: every key changed at or after `since` sorts after it."""
    return since.astimezone(UTC).isoformat(timespec="microseconds")


def referral_doc(view: ReferralView) -> Doc:
    """Serialise a referral view (ids and codes only)."""
    return {
        "family_id": view.family_id,
        "partner_id": view.partner_id,
        "status": view.status,
        "case_id": view.case_id,
        "partner_kind": None if view.partner_kind is None else view.partner_kind.value,
        "urgency": None if view.urgency is None else view.urgency.value,
        "reason_codes": list(view.reason_codes),
        "legal_basis": None if view.legal_basis is None else view.legal_basis.value,
        "escalated_at": _iso(view.escalated_at),
        "outcome_code": view.outcome_code,
        "updated_at": _iso(view.updated_at),
        "changed_at": _iso(view.changed_at),
        "feed_key": None
        if view.changed_at is None
        else feed_key(view.changed_at, view.referral_id),
    }


async def save(uow: UnitOfWork, collection: str, doc_id: str, data: Doc) -> None:
    """Insert or replace a document inside the unit of work."""
    existing = await uow.get(collection, doc_id)
    if existing is None:
        await uow.insert(collection, doc_id, data)
    else:
        await uow.replace(collection, doc_id, data, expected_version=existing.version)


async def get_referral(uow: Reader, referral_id: str) -> ReferralView | None:
    """The referral view inside a unit of work."""
    record = await uow.get(REFERRALS, referral_id)
    return None if record is None else referral_from(record)


async def put_referral(uow: UnitOfWork, view: ReferralView, *, now: datetime) -> ReferralView:
    """Store a referral view as changed `now` (it moves to the end of the partner's list)."""
    stamped = replace(view, changed_at=now)
    await save(uow, REFERRALS, view.referral_id, referral_doc(stamped))
    return stamped


async def referrals_changed_after(
    store: Store, partner_id: str, *, after: str, limit: int
) -> list[ReferralView]:
    """A partner's referral views whose feed key sorts after `after`, oldest change first."""
    records = await store.find(
        REFERRALS,
        {"partner_id": partner_id},
        order_by="feed_key",
        limit=limit,
        after=("feed_key", after),
    )
    return [referral_from(r) for r in records]


async def stamp_unlisted_referrals(store: Store) -> None:
    """Start-up: give views stored before the reconciliation list existed their feed key (their
    last known change time), so partners can list them too."""
    while records := await store.find(REFERRALS, {"feed_key": None}, limit=500):
        for record in records:
            view = referral_from(record)
            at = view.updated_at or view.escalated_at or datetime.now(UTC)
            async with store.transaction() as uow:
                await put_referral(uow, view, now=at)


def consent_id(family_id: str, purpose: ConsentPurpose) -> str:
    """The id of one family's consent for one purpose."""
    return f"{family_id}:{purpose.value}"


async def get_consent(uow: Reader, family_id: str, purpose: ConsentPurpose) -> ConsentState | None:
    """The latest known consent of a family for a purpose."""
    record = await uow.get(CONSENTS, consent_id(family_id, purpose))
    if record is None:
        return None
    return ConsentState(
        granted=record.data["granted"], changed_at=datetime.fromisoformat(record.data["changed_at"])
    )


async def put_consent(
    uow: UnitOfWork, family_id: str, purpose: ConsentPurpose, state: ConsentState
) -> None:
    """Store a family's consent for a purpose."""
    await save(
        uow,
        CONSENTS,
        consent_id(family_id, purpose),
        {"granted": state.granted, "changed_at": state.changed_at.isoformat()},
    )


async def get_endpoint(uow: Reader, endpoint_id: str) -> Endpoint | None:
    """An endpoint inside a unit of work."""
    record = await uow.get(ENDPOINTS, endpoint_id)
    return None if record is None else endpoint_from(record)


async def put_endpoint(uow: UnitOfWork, endpoint: Endpoint) -> None:
    """Store an endpoint."""
    await save(uow, ENDPOINTS, endpoint.id, endpoint_doc(endpoint))


async def get_partner(uow: Reader, partner_id: str) -> Partner | None:
    """A partner inside a unit of work."""
    record = await uow.get(PARTNERS, partner_id)
    return None if record is None else partner_from(record)


async def put_partner(uow: UnitOfWork, partner: Partner) -> None:
    """Store a partner."""
    await save(uow, PARTNERS, partner.id, partner_doc(partner))
