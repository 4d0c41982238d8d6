"""A partner's view of a referral: projected from cases' events, gated by the family's consent.

Events of one family share a Kafka key, but escalations and updates travel on two topics, so
they may arrive in either order: the projection merges, and a status never moves backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from alamal_contracts.codes import (
    SHARE_PURPOSE,
    ConsentPurpose,
    LegalBasis,
    PartnerKind,
    ReferralStatus,
    Urgency,
)

SENT = "sent"
"""The status of a referral the partner has not answered yet."""

_RANK = {
    SENT: 0,
    ReferralStatus.ACCEPTED.value: 1,
    ReferralStatus.DECLINED.value: 1,
    ReferralStatus.CLOSED.value: 2,
}
_ALLOWED = {
    SENT: {ReferralStatus.ACCEPTED.value, ReferralStatus.DECLINED.value},
    ReferralStatus.ACCEPTED.value: {ReferralStatus.CLOSED.value},
    ReferralStatus.DECLINED.value: {ReferralStatus.CLOSED.value},
}


class IllegalStatusError(Exception):
    """The partner reported a status that does not follow the referral's current one."""


@dataclass(frozen=True, slots=True)
class ReferralView:
    """What notifications knows of a referral; the escalation fields are None until it arrives."""

    referral_id: str
    family_id: str
    partner_id: str
    status: str
    case_id: str | None = None
    partner_kind: PartnerKind | None = None
    urgency: Urgency | None = None
    reason_codes: tuple[str, ...] = ()
    legal_basis: LegalBasis | None = None
    escalated_at: datetime | None = None
    outcome_code: str | None = None
    updated_at: datetime | None = None
    changed_at: datetime | None = None
    """When this service last changed the view (the reconciliation list's order); None until
    stored."""

    @property
    def escalated(self) -> bool:
        """Whether the escalation itself has been seen (not only a later status)."""
        return self.escalated_at is not None


def later_status(current: str, reported: str) -> bool:
    """Whether `reported` is further along than `current` (a projection never moves back)."""
    return _RANK.get(reported, -1) > _RANK.get(current, -1)


def merge_escalation(existing: ReferralView | None, escalation: ReferralView) -> ReferralView:
    """Fold an escalation into the view, keeping a status that arrived first."""
    if existing is None:
        return escalation
    return replace(
        escalation,
        status=existing.status,
        outcome_code=existing.outcome_code,
        updated_at=existing.updated_at,
    )


def merge_status(
    existing: ReferralView | None,
    *,
    referral_id: str,
    family_id: str,
    partner_id: str,
    status: str,
    outcome_code: str | None,
    at: datetime,
) -> ReferralView:
    """Fold a status into the view if it is further along than the one known."""
    if existing is None:
        return ReferralView(
            referral_id=referral_id,
            family_id=family_id,
            partner_id=partner_id,
            status=status,
            outcome_code=outcome_code,
            updated_at=at,
        )
    if not later_status(existing.status, status):
        return existing
    return replace(existing, status=status, outcome_code=outcome_code, updated_at=at)


def check_transition(view: ReferralView, reported: ReferralStatus) -> None:
    """sent -> accepted | declined -> closed; anything else raises IllegalStatusError."""
    if reported.value not in _ALLOWED.get(view.status, set()):
        raise IllegalStatusError(f"cannot go from {view.status} to {reported.value}")


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The latest known consent of one family for one purpose."""

    granted: bool
    changed_at: datetime


def newer_consent(existing: ConsentState | None, incoming: ConsentState) -> bool:
    """Whether `incoming` replaces `existing`: the later change wins, whatever the order; on a
    tie a withdrawal wins (the safer reading), so merging is order-free and idempotent."""
    if existing is None:
        return True
    return (incoming.changed_at, not incoming.granted) > (existing.changed_at, not existing.granted)


@dataclass(frozen=True, slots=True)
class RegisteredPartner:
    """What notifications' own partner record says: the only kind the gate listens to."""

    kind: PartnerKind
    active: bool


def share_purpose(kind: PartnerKind | None) -> ConsentPurpose | None:
    """The consent purpose that allows sharing with a partner kind (None: no such purpose)."""
    return None if kind is None else SHARE_PURPOSE.get(kind)


def may_see_details(
    view: ReferralView, partner: RegisteredPartner | None, consent: ConsentState | None
) -> bool:
    """Whether the partner may see the gated fields (urgency, reasons, basis, escalated at).

    Decided here, on notifications' own facts, whatever the referral event claims:
    - the partner's REGISTERED kind (its record here), never the kind carried by the event;
    - a Meldcode override opens the details to a partner registered as Veilig Thuis only;
    - otherwise the family's current consent for sharing with the registered kind, projected
      from intake's registration and consent events (`consent` is the one for that purpose);
    - an inactive or unknown partner sees nothing.
    """
    if not view.escalated or partner is None or not partner.active:
        return False
    if (
        partner.kind is PartnerKind.VEILIG_THUIS
        and view.legal_basis is LegalBasis.MELDCODE_OVERRIDE
    ):
        return True
    if share_purpose(partner.kind) is None:
        return False
    return consent is not None and consent.granted
