"""Referrals to partners: a pure state machine with a consent gate at send.

proposed -> approved -> sent -> accepted | declined -> closed. Urgent and acute referrals may be
sent straight from proposed (recorded as `sent_without_approval`). Sending needs the family's
consent for the partner's kind, or a Meldcode override a coordinator recorded beforehand; the
override only applies to Veilig Thuis (DESIGN.md glossary; the event contract says the same).

The partner's kind is always its REGISTERED kind (`PartnerStanding`, projected from
notifications' partner facts), never a kind a request declares: a declared kind must match it.
At each later step the partner's current standing is checked again (see `domain.partners` for
what a kind change or a deactivation does). Who may take a step (role and scope) is decided in
`access`, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from alamal_cases.domain.cases import Case, CaseNotOpenError, CaseStatus, DomainError
from alamal_cases.domain.consent import ConsentRecord
from alamal_cases.domain.partners import PartnerStanding
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


class ReferralRefusedError(DomainError):
    """A referral step was refused; `code` says why in the access audit (a code, no values)."""

    code: str = "refused"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class IllegalTransitionError(ReferralRefusedError):
    """The referral's state does not allow this step."""

    code = "illegal-transition"


class MeldcodeNotAllowedError(IllegalTransitionError):
    """A Meldcode override for a partner not registered as Veilig Thuis."""

    code = "meldcode-not-allowed"


class ConsentMissingError(ReferralRefusedError):
    """No consent for the partner's registered kind and no Meldcode override: nothing may be
    shared."""

    code = "consent-missing"


class PartnerUnavailableError(ReferralRefusedError):
    """The referral's partner can no longer receive it: unknown, deactivated, or its registered
    kind changed since the referral was proposed."""

    code = "partner-unavailable"


class ReferralRejectedError(ReferralRefusedError):
    """One field of a referral command breaks a rule; `field` names it (never quoting values)."""

    code = "invalid"

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


@dataclass(frozen=True, slots=True)
class ProposeReferral:
    """Propose referring a case's family to a partner.

    `declared_kind` is what the caller believes the partner is (optional): it is never used,
    only checked against the registered kind.
    """

    partner_id: str
    urgency: Urgency
    reason_codes: tuple[str, ...]
    note: str | None = None
    declared_kind: PartnerKind | None = None


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


def registered_partner(command: ProposeReferral, partner: PartnerStanding | None) -> PartnerKind:
    """The partner's registered kind, if a referral may be proposed to it; else the refusal."""
    if partner is None or partner.partner_id != command.partner_id:
        raise ReferralRejectedError(
            "partner_id", "no partner with this id is registered", code="unknown-partner"
        )
    if not partner.active:
        raise ReferralRejectedError(
            "partner_id", "this partner is not active", code="inactive-partner"
        )
    if command.declared_kind is not None and command.declared_kind is not partner.kind:
        raise ReferralRejectedError(
            "partner_kind",
            "does not match the kind the partner is registered as",
            code="partner-kind-mismatch",
        )
    if partner.kind not in SHARE_PURPOSE:
        raise ReferralRejectedError(
            "partner_id",
            "no consent purpose covers this partner's kind: it cannot be referred to",
            code="partner-kind-not-referable",
        )
    return partner.kind


def propose_referral(
    case: Case,
    command: ProposeReferral,
    *,
    partner: PartnerStanding | None,
    referral_id: str,
    by: str,
    now: datetime,
) -> Referral:
    """Propose a referral on an open case to a registered, active partner (its registered kind)."""
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpenError("the case is closed")
    kind = registered_partner(command, partner)
    _check_codes(command.reason_codes)
    if command.note is not None and len(command.note) > MAX_REFERRAL_NOTE_CHARS:
        raise ReferralRejectedError("note", "at most 4000 characters")
    return Referral(
        id=referral_id,
        case_id=case.id,
        family_id=case.family_id,
        partner_id=command.partner_id,
        partner_kind=kind,
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


def check_partner(referral: Referral, partner: PartnerStanding | None) -> PartnerStanding:
    """The partner's current standing, if the referral may still go to it; else why not."""
    if partner is None or partner.partner_id != referral.partner_id:
        raise PartnerUnavailableError(
            "the partner is not registered (any more)", code="unknown-partner"
        )
    if not partner.active:
        raise PartnerUnavailableError(
            "the partner was deactivated: nothing can be sent to it", code="inactive-partner"
        )
    if partner.kind is not referral.partner_kind:
        raise PartnerUnavailableError(
            "the partner's registered kind changed since the referral was proposed: "
            "propose it again",
            code="partner-kind-changed",
        )
    return partner


def record_override(
    referral: Referral,
    *,
    partner: PartnerStanding | None,
    reason_code: str,
    by: str,
    now: datetime,
) -> Referral:
    """A coordinator records a Meldcode safety override, before the referral is sent; only for
    a partner registered as Veilig Thuis."""
    if not re.fullmatch(OVERRIDE_REASON_PATTERN, reason_code):
        raise ReferralRejectedError("reason_code", "a code of a-z, 0-9 and -, 1 to 64 long")
    registered = check_partner(referral, partner)
    if registered.kind not in MELDCODE_KINDS:
        raise MeldcodeNotAllowedError("the Meldcode override applies to Veilig Thuis only")
    if referral.state not in (ReferralState.PROPOSED, ReferralState.APPROVED):
        raise IllegalTransitionError("the override must be recorded before the referral is sent")
    return replace(referral, override=MeldcodeOverride(reason_code, by, now))


def legal_basis(
    referral: Referral, registered: PartnerKind, consent: ConsentRecord | None
) -> LegalBasis:
    """Consent if the family granted sharing with the partner's REGISTERED kind, else a recorded
    Meldcode override, for a partner registered as Veilig Thuis only."""
    purpose = SHARE_PURPOSE.get(registered)
    if purpose is None:
        raise ConsentMissingError("no consent purpose covers this partner's kind")
    if consent is not None and consent.purpose is purpose and consent.granted:
        return LegalBasis.CONSENT
    if referral.override is not None and registered in MELDCODE_KINDS:
        return LegalBasis.MELDCODE_OVERRIDE
    hint = "; a coordinator may record a Meldcode override" if registered in MELDCODE_KINDS else ""
    raise ConsentMissingError(f"consent for {purpose} missing{hint}")


def send(
    referral: Referral,
    *,
    partner: PartnerStanding | None,
    consent: ConsentRecord | None,
    by: str,
    now: datetime,
) -> tuple[Referral, ReferralEscalated]:
    """Send to the partner: approved, or urgent/acute straight from proposed; consent-gated on
    the partner's registered kind, which must still be the kind it was proposed under."""
    direct = referral.state is ReferralState.PROPOSED and referral.urgency in DIRECT_SEND
    if referral.state is not ReferralState.APPROVED and not direct:
        if referral.state is ReferralState.PROPOSED:
            raise IllegalTransitionError("a routine referral must be approved before sending")
        raise IllegalTransitionError(f"a {referral.state} referral cannot be sent")
    registered = check_partner(referral, partner)
    basis = legal_basis(referral, registered.kind, consent)
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
        partner_kind=registered.kind,
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
