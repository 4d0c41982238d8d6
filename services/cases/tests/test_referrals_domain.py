"""The referral state machine and its consent gate (unit, no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alamal_cases.domain import Case, CaseNotOpenError, CaseStatus, ConsentRecord, referrals
from alamal_cases.domain.partners import PartnerStanding
from alamal_cases.domain.referrals import (
    ConsentMissingError,
    IllegalTransitionError,
    MeldcodeNotAllowedError,
    MeldcodeOverride,
    PartnerUnavailableError,
    ProposeReferral,
    Referral,
    ReferralRejectedError,
    ReferralState,
    approve,
    propose_referral,
    record_answer,
)
from alamal_contracts.codes import (
    ConsentPurpose,
    LegalBasis,
    PartnerKind,
    ReferralStatus,
    Urgency,
    Wijk,
)
from alamal_contracts.events import ReferralEscalated

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
HOLDER = str(uuid.uuid4())
COORDINATOR = str(uuid.uuid4())
CASE = Case(
    id=str(uuid.uuid4()),
    family_id=str(uuid.uuid4()),
    wijk=Wijk.OVERVECHT,
    trusted_person_id=HOLDER,
    status=CaseStatus.OPEN,
    opened_at=NOW - timedelta(days=30),
)


def partner(
    kind: PartnerKind, *, active: bool = True, revision: int = 1, partner_id: str | None = None
) -> PartnerStanding:
    """A partner as cases' projection knows it: registered kind and active flag."""
    return PartnerStanding(partner_id or str(uuid.uuid4()), kind, active, revision, NOW)


def registered(referral: Referral) -> PartnerStanding:
    """The referral's partner, still registered as the kind it was proposed under."""
    return partner(referral.partner_kind, partner_id=referral.partner_id)


def proposal(
    kind: PartnerKind = PartnerKind.POLICE,
    urgency: Urgency = Urgency.ROUTINE,
    codes: tuple[str, ...] = ("safety-concern",),
) -> Referral:
    """A proposed referral on CASE to a partner registered as `kind`."""
    to = partner(kind)
    command = ProposeReferral(to.partner_id, urgency, codes, note="private")
    return propose_referral(
        CASE, command, partner=to, referral_id=str(uuid.uuid4()), by=HOLDER, now=NOW
    )


def send(referral: Referral, **kw: object) -> tuple[Referral, ReferralEscalated]:
    """Send with the referral's partner still registered as proposed (unless `partner=`)."""
    kw.setdefault("partner", registered(referral))
    return referrals.send(referral, **kw)  # type: ignore[arg-type]


def record_override(referral: Referral, **kw: object) -> Referral:
    """Record an override with the referral's partner still registered as proposed."""
    kw.setdefault("partner", registered(referral))
    return referrals.record_override(referral, **kw)  # type: ignore[arg-type]


def consent(purpose: ConsentPurpose, granted: bool = True) -> ConsentRecord:
    """The family's consent for one purpose."""
    return ConsentRecord(CASE.family_id, purpose, granted, NOW - timedelta(days=1))


POLICE_OK = consent(ConsentPurpose.SHARE_POLICE)


def test_the_full_lifecycle_with_consent() -> None:
    referral = proposal()
    assert referral.state is ReferralState.PROPOSED
    approved = approve(referral, by=COORDINATOR, now=NOW)
    sent, escalated = send(approved, consent=POLICE_OK, by=HOLDER, now=NOW)
    assert sent.state is ReferralState.SENT
    assert not sent.sent_without_approval
    assert escalated.legal_basis is LegalBasis.CONSENT
    assert escalated.reason_codes == ("safety-concern",)
    assert "private" not in escalated.model_dump_json()
    accepted, updated = record_answer(sent, ReferralStatus.ACCEPTED, outcome_code=None, now=NOW)
    assert (accepted.state, updated.status) == (ReferralState.ACCEPTED, ReferralStatus.ACCEPTED)
    closed, updated = record_answer(accepted, ReferralStatus.CLOSED, outcome_code="helped", now=NOW)
    assert (closed.state, updated.outcome_code) == (ReferralState.CLOSED, "helped")


def test_a_declined_referral_can_be_closed() -> None:
    sent, _ = send(
        approve(proposal(), by=COORDINATOR, now=NOW), consent=POLICE_OK, by=HOLDER, now=NOW
    )
    declined, _ = record_answer(sent, ReferralStatus.DECLINED, outcome_code=None, now=NOW)
    closed, _ = record_answer(declined, ReferralStatus.CLOSED, outcome_code="no-capacity", now=NOW)
    assert closed.state is ReferralState.CLOSED


@pytest.mark.parametrize("urgency", [Urgency.URGENT, Urgency.ACUTE])
def test_urgent_and_acute_may_be_sent_without_approval(urgency: Urgency) -> None:
    sent, escalated = send(proposal(urgency=urgency), consent=POLICE_OK, by=HOLDER, now=NOW)
    assert sent.sent_without_approval
    assert escalated.urgency is urgency


def test_a_routine_proposal_cannot_be_sent_unapproved() -> None:
    with pytest.raises(IllegalTransitionError, match="approved before sending"):
        send(proposal(), consent=POLICE_OK, by=HOLDER, now=NOW)


def test_illegal_transitions() -> None:
    referral = proposal()
    sent, _ = send(
        approve(referral, by=COORDINATOR, now=NOW), consent=POLICE_OK, by=HOLDER, now=NOW
    )
    with pytest.raises(IllegalTransitionError):
        approve(sent, by=COORDINATOR, now=NOW)
    with pytest.raises(IllegalTransitionError):
        send(sent, consent=POLICE_OK, by=HOLDER, now=NOW)
    with pytest.raises(IllegalTransitionError):
        record_answer(referral, ReferralStatus.CLOSED, outcome_code="x", now=NOW)
    with pytest.raises(IllegalTransitionError):
        record_answer(referral, ReferralStatus.ACCEPTED, outcome_code=None, now=NOW)
    with pytest.raises(IllegalTransitionError):
        record_answer(sent, ReferralStatus.CLOSED, outcome_code="x", now=NOW)


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(None, id="no-consent-recorded"),
        pytest.param(consent(ConsentPurpose.SHARE_POLICE, granted=False), id="withdrawn"),
        pytest.param(consent(ConsentPurpose.SHARE_GGD), id="another-purpose"),
    ],
)
def test_without_consent_nothing_is_sent(given: ConsentRecord | None) -> None:
    approved = approve(proposal(), by=COORDINATOR, now=NOW)
    with pytest.raises(ConsentMissingError, match="consent for share-police missing"):
        send(approved, consent=given, by=HOLDER, now=NOW)


def test_a_meldcode_override_lets_a_veilig_thuis_referral_through() -> None:
    referral = proposal(kind=PartnerKind.VEILIG_THUIS)
    with pytest.raises(ConsentMissingError, match="may record a Meldcode override"):
        send(approve(referral, by=COORDINATOR, now=NOW), consent=None, by=HOLDER, now=NOW)
    overridden = record_override(referral, reason_code="child-unsafe", by=COORDINATOR, now=NOW)
    approved = approve(overridden, by=COORDINATOR, now=NOW)
    _, escalated = send(approved, consent=None, by=HOLDER, now=NOW)
    assert escalated.legal_basis is LegalBasis.MELDCODE_OVERRIDE
    granted = consent(ConsentPurpose.SHARE_VEILIG_THUIS)
    _, escalated = send(approved, consent=granted, by=HOLDER, now=NOW)
    assert escalated.legal_basis is LegalBasis.CONSENT


def test_the_override_is_for_veilig_thuis_only_and_before_sending() -> None:
    with pytest.raises(MeldcodeNotAllowedError, match="Veilig Thuis only"):
        record_override(proposal(), reason_code="child-unsafe", by=COORDINATOR, now=NOW)
    vt = proposal(kind=PartnerKind.VEILIG_THUIS, urgency=Urgency.ACUTE)
    sent, _ = send(vt, consent=consent(ConsentPurpose.SHARE_VEILIG_THUIS), by=HOLDER, now=NOW)
    with pytest.raises(IllegalTransitionError, match="before the referral is sent"):
        record_override(sent, reason_code="child-unsafe", by=COORDINATOR, now=NOW)
    with pytest.raises(ReferralRejectedError):
        record_override(vt, reason_code="Child Unsafe", by=COORDINATOR, now=NOW)


def test_proposals_are_checked() -> None:
    closed = Case(CASE.id, CASE.family_id, CASE.wijk, HOLDER, CaseStatus.CLOSED, CASE.opened_at)
    police = partner(PartnerKind.POLICE)
    command = ProposeReferral(police.partner_id, Urgency.ROUTINE, ("a",))
    with pytest.raises(CaseNotOpenError):
        propose_referral(
            closed, command, partner=police, referral_id=str(uuid.uuid4()), by=HOLDER, now=NOW
        )
    for kind, codes, field in [
        (PartnerKind.OTHER, ("a",), "partner_id"),
        (PartnerKind.POLICE, (), "reason_codes"),
        (PartnerKind.POLICE, ("a", "a"), "reason_codes"),
        (PartnerKind.POLICE, ("Free text",), "reason_codes"),
    ]:
        with pytest.raises(ReferralRejectedError) as caught:
            proposal(kind=kind, codes=codes)
        assert caught.value.field == field


def test_closing_needs_an_outcome_code() -> None:
    sent, _ = send(proposal(urgency=Urgency.URGENT), consent=POLICE_OK, by=HOLDER, now=NOW)
    accepted, _ = record_answer(sent, ReferralStatus.ACCEPTED, outcome_code=None, now=NOW)
    with pytest.raises(ReferralRejectedError) as caught:
        record_answer(accepted, ReferralStatus.CLOSED, outcome_code=None, now=NOW)
    assert caught.value.field == "outcome_code"


def _propose(command: ProposeReferral, to: PartnerStanding | None) -> Referral:
    return propose_referral(
        CASE, command, partner=to, referral_id=str(uuid.uuid4()), by=HOLDER, now=NOW
    )


def test_the_kind_is_the_registered_one_never_the_declared_one() -> None:
    youth_care = partner(PartnerKind.YOUTH_CARE)
    referral = _propose(ProposeReferral(youth_care.partner_id, Urgency.ROUTINE, ("a",)), youth_care)
    assert referral.partner_kind is PartnerKind.YOUTH_CARE
    same = ProposeReferral(
        youth_care.partner_id, Urgency.ROUTINE, ("a",), declared_kind=PartnerKind.YOUTH_CARE
    )
    assert _propose(same, youth_care).partner_kind is PartnerKind.YOUTH_CARE
    lying = ProposeReferral(
        youth_care.partner_id, Urgency.ROUTINE, ("a",), declared_kind=PartnerKind.POLICE
    )
    with pytest.raises(ReferralRejectedError) as caught:
        _propose(lying, youth_care)
    assert (caught.value.field, caught.value.code) == ("partner_kind", "partner-kind-mismatch")


@pytest.mark.parametrize(
    ("to", "code"),
    [
        pytest.param(None, "unknown-partner", id="unknown"),
        pytest.param(partner(PartnerKind.POLICE, active=False), "inactive-partner", id="inactive"),
        pytest.param(partner(PartnerKind.POLICE), "unknown-partner", id="another-partner-id"),
    ],
)
def test_an_unknown_or_inactive_partner_is_refused_on_partner_id(
    to: PartnerStanding | None, code: str
) -> None:
    partner_id = str(uuid.uuid4()) if to is None or code == "unknown-partner" else to.partner_id
    with pytest.raises(ReferralRejectedError) as caught:
        _propose(ProposeReferral(partner_id, Urgency.ROUTINE, ("a",)), to)
    assert (caught.value.field, caught.value.code) == ("partner_id", code)


def test_a_partner_deactivated_before_sending_gets_nothing() -> None:
    referral = approve(proposal(), by=COORDINATOR, now=NOW)
    gone = partner(PartnerKind.POLICE, active=False, revision=2, partner_id=referral.partner_id)
    with pytest.raises(PartnerUnavailableError, match="deactivated") as caught:
        send(referral, partner=gone, consent=POLICE_OK, by=HOLDER, now=NOW)
    assert caught.value.code == "inactive-partner"
    with pytest.raises(PartnerUnavailableError, match="not registered"):
        send(referral, partner=None, consent=POLICE_OK, by=HOLDER, now=NOW)


def test_a_kind_change_after_proposal_stops_the_send_and_the_override() -> None:
    """Proposed to a partner registered as Veilig Thuis, which is then registered as police:
    neither the override nor consent under the old kind may carry over."""
    vt = proposal(kind=PartnerKind.VEILIG_THUIS)
    overridden = approve(
        record_override(vt, reason_code="child-unsafe", by=COORDINATOR, now=NOW),
        by=COORDINATOR,
        now=NOW,
    )
    now_police = partner(PartnerKind.POLICE, revision=2, partner_id=vt.partner_id)
    with pytest.raises(PartnerUnavailableError, match="kind changed") as caught:
        send(overridden, partner=now_police, consent=POLICE_OK, by=HOLDER, now=NOW)
    assert caught.value.code == "partner-kind-changed"
    with pytest.raises(PartnerUnavailableError, match="kind changed"):
        record_override(vt, partner=now_police, reason_code="child-unsafe", by=COORDINATOR, now=NOW)


def test_an_override_never_opens_a_non_veilig_thuis_partner_even_if_stored() -> None:
    """Cases' check alone: an override that reached a police referral some other way (an old
    record, a bypassed step) still gives no legal basis."""
    forged = replace(
        approve(proposal(), by=COORDINATOR, now=NOW),
        override=MeldcodeOverride("child-unsafe", COORDINATOR, NOW),
    )
    with pytest.raises(ConsentMissingError):
        send(forged, consent=None, by=HOLDER, now=NOW)
