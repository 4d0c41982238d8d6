"""Referrals to partners: a pure state machine with a consent gate at send.

proposed -> approved -> sent -> accepted | declined -> closed. Urgent and acute referrals may be
sent straight from proposed (recorded as `sent_without_approval`). Sending needs the family's
consent for the partner kind, or a Meldcode override a coordinator recorded beforehand; the
override only applies to Veilig Thuis (DESIGN.md glossary; the event contract says the same).
Who may take a step (role and scope) is decided in `access`, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from alamal_cases.domain.cases import Case, CaseNotOpenError, CaseStatus, DomainError
from alamal_cases.domain.consent import ConsentRecord
from alamal_contracts.codes import (
    CODE_PATTERN,
    SHARE_PURPOSE,
    LegalBasis,
    PartnerKind,
    ReferralStatus,
    Urgency,
)
from alamal_contracts.events import ReferralEscalated, ReferralUpdated

MAX_REASON_CODES: Final = 10
MAX_REFERRAL_NOTE_CHARS: Final = 4000
OVERRIDE_REASON_PATTERN: Final = r"^[a-z0-9-]{1,64}$"
MELDCODE_KINDS: Final = frozenset({PartnerKind.VEILIG_THUIS})
"""Partner kinds the Meldcode allows a report to without consent."""
DIRECT_SEND: Final = frozenset({Urgency.URGENT, Urgency.ACUTE})
"""Urgencies the trusted person may send without a coordinator's approval."""


class ReferralState(StrEnum):
    """Where a referral stands."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CLOSED = "closed"


_ANSWERS: Final = {
    ReferralStatus.ACCEPTED: (frozenset({ReferralState.SENT}), ReferralState.ACCEPTED),
    ReferralStatus.DECLINED: (frozenset({ReferralState.SENT}), ReferralState.DECLINED),
    ReferralStatus.CLOSED: (
        frozenset({ReferralState.ACCEPTED, ReferralState.DECLINED}),
        ReferralState.CLOSED,
    ),
}


class IllegalTransitionError(DomainError):
    """The referral's state does not allow this step."""


class ConsentMissingError(DomainError):
    """No consent for the partner kind and no Meldcode override: nothing may be shared."""


class ReferralRejectedError(DomainError):
    """One field of a referral command breaks a rule; `field` names it (never quoting values)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ProposeReferral:
    """Propose referring a case's family to a partner."""

    partner_id: str
    partner_kind: PartnerKind
    urgency: Urgency
    reason_codes: tuple[str, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class MeldcodeOverride:
    """A coordinator's recorded decision to share without consent under the Meldcode."""

    reason_code: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Referral:
    """A referral; the note stays in cases' store, never in events."""

    id: str
    case_id: str
    family_id: str
    partner_id: str
    partner_kind: PartnerKind
    urgency: Urgency
    reason_codes: tuple[str, ...]
    note: str | None
    state: ReferralState
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    override: MeldcodeOverride | None = None
    sent_by: str | None = None
    sent_at: datetime | None = None
    sent_without_approval: bool = False
    legal_basis: LegalBasis | None = None
    outcome_code: str | None = None
    updated_at: datetime | None = None


def _check_codes(codes: tuple[str, ...]) -> None:
    if not 1 <= len(codes) <= MAX_REASON_CODES:
        raise ReferralRejectedError("reason_codes", "between 1 and 10 reason codes")
    if len(set(codes)) != len(codes):
        raise ReferralRejectedError("reason_codes", "each reason code at most once")
    if not all(len(c) <= 64 and re.fullmatch(CODE_PATTERN, c) for c in codes):
        raise ReferralRejectedError("reason_codes", "codes are lowercase words joined by - or _")


def propose_referral(
    case: Case, command: ProposeReferral, *, referral_id: str, by: str, now: datetime
) -> Referral:
    """Propose a referral on an open case."""
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpenError("the case is closed")
    if command.partner_kind not in SHARE_PURPOSE:
        raise ReferralRejectedError("partner_kind", "no consent purpose covers this partner kind")
    _check_codes(command.reason_codes)
    if command.note is not None and len(command.note) > MAX_REFERRAL_NOTE_CHARS:
        raise ReferralRejectedError("note", "at most 4000 characters")
    return Referral(
        id=referral_id,
        case_id=case.id,
        family_id=case.family_id,
        partner_id=command.partner_id,
        partner_kind=command.partner_kind,
        urgency=command.urgency,
        reason_codes=command.reason_codes,
        note=command.note,
        state=ReferralState.PROPOSED,
        proposed_by=by,
        proposed_at=now,
    )


def approve(referral: Referral, *, by: str, now: datetime) -> Referral:
    """A coordinator approves a proposal."""
    if referral.state is not ReferralState.PROPOSED:
        raise IllegalTransitionError(f"a {referral.state} referral cannot be approved")
    return replace(referral, state=ReferralState.APPROVED, approved_by=by, approved_at=now)


def record_override(referral: Referral, *, reason_code: str, by: str, now: datetime) -> Referral:
    """A coordinator records a Meldcode safety override, before the referral is sent."""
    if not re.fullmatch(OVERRIDE_REASON_PATTERN, reason_code):
        raise ReferralRejectedError("reason_code", "a code of a-z, 0-9 and -, 1 to 64 long")
    if referral.partner_kind not in MELDCODE_KINDS:
        raise IllegalTransitionError("the Meldcode override applies to Veilig Thuis only")
    if referral.state not in (ReferralState.PROPOSED, ReferralState.APPROVED):
        raise IllegalTransitionError("the override must be recorded before the referral is sent")
    return replace(referral, override=MeldcodeOverride(reason_code, by, now))


def legal_basis(referral: Referral, consent: ConsentRecord | None) -> LegalBasis:
    """Consent if the family granted sharing with this partner kind, else a recorded override."""
    purpose = SHARE_PURPOSE[referral.partner_kind]
    if consent is not None and consent.purpose is purpose and consent.granted:
        return LegalBasis.CONSENT
    if referral.override is not None and referral.partner_kind in MELDCODE_KINDS:
        return LegalBasis.MELDCODE_OVERRIDE
    hint = (
        "; a coordinator may record a Meldcode override"
        if referral.partner_kind in MELDCODE_KINDS
        else ""
    )
    raise ConsentMissingError(f"consent for {purpose} missing{hint}")


def send(
    referral: Referral, *, consent: ConsentRecord | None, by: str, now: datetime
) -> tuple[Referral, ReferralEscalated]:
    """Send to the partner: approved, or urgent/acute straight from proposed; consent-gated."""
    direct = referral.state is ReferralState.PROPOSED and referral.urgency in DIRECT_SEND
    if referral.state is not ReferralState.APPROVED and not direct:
        if referral.state is ReferralState.PROPOSED:
            raise IllegalTransitionError("a routine referral must be approved before sending")
        raise IllegalTransitionError(f"a {referral.state} referral cannot be sent")
    basis = legal_basis(referral, consent)
    sent = replace(
        referral,
        state=ReferralState.SENT,
        sent_by=by,
        sent_at=now,
        sent_without_approval=direct,
        legal_basis=basis,
        updated_at=now,
    )
    event = ReferralEscalated(
        referral_id=sent.id,
        case_id=sent.case_id,
        family_id=sent.family_id,
        partner_id=sent.partner_id,
        partner_kind=sent.partner_kind,
        urgency=sent.urgency,
        reason_codes=sent.reason_codes,
        legal_basis=basis,
        escalated_at=now,
    )
    return sent, event


def record_answer(
    referral: Referral, status: ReferralStatus, *, outcome_code: str | None, now: datetime
) -> tuple[Referral, ReferralUpdated]:
    """Record the partner's answer: accepted or declined once sent, closed after either."""
    allowed_from, target = _ANSWERS[status]
    if referral.state not in allowed_from:
        raise IllegalTransitionError(f"a {referral.state} referral cannot become {target}")
    if status is ReferralStatus.CLOSED and outcome_code is None:
        raise ReferralRejectedError("outcome_code", "closing a referral needs an outcome code")
    if outcome_code is not None and not (
        len(outcome_code) <= 64 and re.fullmatch(CODE_PATTERN, outcome_code)
    ):
        raise ReferralRejectedError("outcome_code", "codes are lowercase words joined by - or _")
    updated = replace(referral, state=target, outcome_code=outcome_code, updated_at=now)
    event = ReferralUpdated(
        referral_id=updated.id,
        family_id=updated.family_id,
        partner_id=updated.partner_id,
        status=status,
        outcome_code=outcome_code,
        updated_at=now,
    )
    return updated, event
