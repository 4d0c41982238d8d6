"""The consent gate as a property, across both services' real decision code (unit, no I/O).

For every registered kind x declared kind x consent set x override (exhaustively), and under
hypothesis for kind changes and forged referral events too: a partner sees a referral's details
only if the family consented to sharing with the partner's REGISTERED kind, or the partner is
registered as Veilig Thuis and a Meldcode override was recorded. And it does see them whenever
that holds (so the gate cannot pass by refusing everything).

Cases run: 18,432 exhaustive combinations + 300 kind-change examples + 300 forged events.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alamal_cases.domain import Case, CaseStatus, ConsentRecord
from alamal_cases.domain.partners import PartnerStanding
from alamal_cases.domain.referrals import (
    ProposeReferral,
    ReferralRefusedError,
    approve,
    propose_referral,
    record_override,
    send,
)
from alamal_contracts.codes import (
    SHARE_PURPOSE,
    ConsentPurpose,
    LegalBasis,
    PartnerKind,
    Urgency,
    Wijk,
)
from alamal_contracts.events import ReferralEscalated
from alamal_notifications.domain.referrals import (
    ConsentState,
    ReferralView,
    RegisteredPartner,
    may_see_details,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CASE = Case(
    id=str(uuid.uuid4()),
    family_id=str(uuid.uuid4()),
    wijk=Wijk.OVERVECHT,
    trusted_person_id=str(uuid.uuid4()),
    status=CaseStatus.OPEN,
    opened_at=NOW - timedelta(days=9),
)
SHARING = tuple(SHARE_PURPOSE.values())
KINDS = tuple(PartnerKind)
DECLARED: tuple[PartnerKind | None, ...] = (None, *KINDS)


@dataclass(frozen=True, slots=True)
class World:
    """One combination: who the partner is, what the caller says, what the family allowed."""

    registered: PartnerKind
    declared: PartnerKind | None
    consents: frozenset[ConsentPurpose]
    override: bool
    registered_at_send: PartnerKind | None = None  # a kind change after the proposal


def allowed(consents: frozenset[ConsentPurpose], kind: PartnerKind, override: bool) -> bool:
    """The promise: consent for the registered kind, or Veilig Thuis under an override."""
    purpose = SHARE_PURPOSE.get(kind)
    return (purpose is not None and purpose in consents) or (
        kind is PartnerKind.VEILIG_THUIS and override
    )


def view_of(event: ReferralEscalated) -> ReferralView:
    """Notifications' projection of the escalation event (what its handler builds)."""
    return ReferralView(
        referral_id=event.referral_id,
        family_id=event.family_id,
        partner_id=event.partner_id,
        status="sent",
        case_id=event.case_id,
        partner_kind=event.partner_kind,
        urgency=event.urgency,
        reason_codes=event.reason_codes,
        legal_basis=event.legal_basis,
        escalated_at=event.escalated_at,
    )


def notifications_shows(
    event: ReferralEscalated, kind: PartnerKind, consents: frozenset[ConsentPurpose]
) -> bool:
    """Notifications' own decision for a partner registered (there) as `kind`."""
    purpose = SHARE_PURPOSE.get(kind)
    consent = (
        None
        if purpose is None
        else ConsentState(granted=purpose in consents, changed_at=NOW - timedelta(days=1))
    )
    return may_see_details(view_of(event), RegisteredPartner(kind, active=True), consent)


def run(world: World) -> tuple[ReferralEscalated | None, bool]:
    """Cases' steps as staff would take them, then notifications' read; (event, shown)."""
    partner_id = str(uuid.uuid4())
    proposed_to = PartnerStanding(partner_id, world.registered, True, 1, NOW)
    at_send = world.registered_at_send or world.registered
    current = PartnerStanding(partner_id, at_send, True, 2, NOW)
    command = ProposeReferral(partner_id, Urgency.URGENT, ("safety",), declared_kind=world.declared)
    try:
        referral = propose_referral(
            CASE, command, partner=proposed_to, referral_id=str(uuid.uuid4()), by="tp", now=NOW
        )
    except ReferralRefusedError:
        return None, False
    if world.override:
        with contextlib.suppress(ReferralRefusedError):
            referral = record_override(
                referral, partner=current, reason_code="child-unsafe", by="co", now=NOW
            )
    referral = approve(referral, by="co", now=NOW)
    purpose = SHARE_PURPOSE.get(at_send)
    consent = (
        None
        if purpose is None
        else ConsentRecord(CASE.family_id, purpose, purpose in world.consents, NOW)
    )
    try:
        _, event = send(referral, partner=current, consent=consent, by="tp", now=NOW)
    except ReferralRefusedError:
        return None, False
    return event, notifications_shows(event, at_send, world.consents)


def check(world: World) -> None:
    event, shown = run(world)
    registered = world.registered_at_send or world.registered
    if shown:
        assert allowed(world.consents, registered, world.override), world
    if event is not None:
        # What cases put on the wire is the registered kind, never the declared one.
        assert event.partner_kind is registered
        if event.legal_basis is LegalBasis.MELDCODE_OVERRIDE:
            assert registered is PartnerKind.VEILIG_THUIS
    honest = world.declared in (None, world.registered) and world.registered_at_send in (
        None,
        world.registered,
    )
    if honest and allowed(world.consents, registered, world.override):
        assert shown, world  # the gate is not "refuse everything"


def test_every_combination_exhaustively() -> None:
    """8 registered kinds x 9 declared (or none) x 2^7 consent sets x override: 18,432 cases."""
    count = 0
    consent_sets = [
        frozenset(c) for n in range(len(SHARING) + 1) for c in itertools.combinations(SHARING, n)
    ]
    for registered, declared, consents, override in itertools.product(
        KINDS, DECLARED, consent_sets, (False, True)
    ):
        check(World(registered, declared, consents, override))
        count += 1
    assert count == len(KINDS) * len(DECLARED) * 2 ** len(SHARING) * 2 == 18_432


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    registered=st.sampled_from(KINDS),
    declared=st.sampled_from(DECLARED),
    consents=st.frozensets(st.sampled_from(SHARING)),
    override=st.booleans(),
    registered_at_send=st.sampled_from(DECLARED),
)
def test_kind_changes_between_proposal_and_send(
    registered: PartnerKind,
    declared: PartnerKind | None,
    consents: frozenset[ConsentPurpose],
    override: bool,
    registered_at_send: PartnerKind | None,
) -> None:
    check(World(registered, declared, consents, override, registered_at_send))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    registered=st.sampled_from(KINDS),
    claimed_kind=st.sampled_from(KINDS),
    claimed_basis=st.sampled_from(tuple(LegalBasis)),
    consents=st.frozensets(st.sampled_from(SHARING)),
)
def test_notifications_alone_against_any_event(
    registered: PartnerKind,
    claimed_kind: PartnerKind,
    claimed_basis: LegalBasis,
    consents: frozenset[ConsentPurpose],
) -> None:
    """Cases bypassed: whatever kind and basis an escalation event claims, notifications shows
    details only on consent for the REGISTERED kind, or an override to Veilig Thuis."""
    event = ReferralEscalated(
        referral_id=str(uuid.uuid4()),
        case_id=CASE.id,
        family_id=CASE.family_id,
        partner_id=str(uuid.uuid4()),
        partner_kind=claimed_kind,
        urgency=Urgency.ACUTE,
        reason_codes=("safety",),
        legal_basis=claimed_basis,
        escalated_at=NOW,
    )
    shown = notifications_shows(event, registered, consents)
    override = claimed_basis is LegalBasis.MELDCODE_OVERRIDE
    assert shown == allowed(consents, registered, override)
