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
    """Whether `incoming` replaces `existing` (the later change wins, whatever the order)."""
    return existing is None or incoming.changed_at > existing.changed_at


def share_purpose(kind: PartnerKind | None) -> ConsentPurpose | None:
    """The consent purpose that allows sharing with a partner kind (None: no such purpose)."""
    return None if kind is None else SHARE_PURPOSE.get(kind)


def may_see_details(view: ReferralView, consent: ConsentState | None) -> bool:
    """Whether the partner may see the gated fields (urgency, reasons, basis, escalated at).

    The Meldcode override lets Veilig Thuis see them without consent. Otherwise the family's
    consent for sharing with the partner's kind decides: a referral escalated on the legal
    basis `consent` proves cases saw that consent given at send time (it may have come with
    the registration, which notifications does not consume), so it counts as given then; any
    later change on `intake.consent-changed.v1` (a withdrawal) decides from then on.
    """
    if not view.escalated or view.escalated_at is None:
        return False
    if (
        view.legal_basis is LegalBasis.MELDCODE_OVERRIDE
        and view.partner_kind is PartnerKind.VEILIG_THUIS
    ):
        return True
    if share_purpose(view.partner_kind) is None:
        return False
    if consent is not None and consent.changed_at >= view.escalated_at:
        return consent.granted
    if view.legal_basis is LegalBasis.CONSENT:
        return True
    return consent is not None and consent.granted
