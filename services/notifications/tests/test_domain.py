"""Unit tests of the pure domain: retries, subscriptions, the referral projection, the gate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from alamal_contracts.codes import LegalBasis, PartnerKind, ReferralStatus, Urgency
from alamal_notifications.domain.delivery import (
    EventType,
    FilterField,
    Subscription,
    encode,
    parse_retry_after,
    payload,
    retry_delay,
)
from alamal_notifications.domain.referrals import (
    ConsentState,
    IllegalStatusError,
    ReferralView,
    RegisteredPartner,
    check_transition,
    may_see_details,
    merge_escalation,
    merge_status,
    newer_consent,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULE = (5.0, 300.0, 1800.0)


def view(**changes: object) -> ReferralView:
    base: dict[str, object] = {
        "referral_id": "r",
        "family_id": "f",
        "partner_id": "p",
        "status": "sent",
        "case_id": "c",
        "partner_kind": PartnerKind.YOUTH_CARE,
        "urgency": Urgency.URGENT,
        "reason_codes": ("safety",),
        "legal_basis": LegalBasis.CONSENT,
        "escalated_at": NOW,
    }
    return ReferralView(**{**base, **changes})  # type: ignore[arg-type]


def test_retry_delays_follow_the_schedule_then_stop() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, SCHEDULE, jitter=0, rng=rng, retry_after_cap=60) for n in range(1, 5)]
    assert delays == [5.0, 300.0, 1800.0, None]
    assert retry_delay(0, SCHEDULE, jitter=0, rng=rng, retry_after_cap=60) is None


def test_jitter_stays_within_its_fraction_and_varies() -> None:
    rng = random.Random(7)
    delays = {retry_delay(2, SCHEDULE, jitter=0.2, rng=rng, retry_after_cap=60) for _ in range(50)}
    assert all(d is not None and 240 <= d <= 360 for d in delays)
    assert len(delays) > 40


def test_retry_after_lengthens_a_delay_up_to_the_cap() -> None:
    rng = random.Random(1)
    assert retry_delay(1, SCHEDULE, jitter=0, rng=rng, retry_after=30, retry_after_cap=60) == 30
    assert retry_delay(1, SCHEDULE, jitter=0, rng=rng, retry_after=9999, retry_after_cap=60) == 60
    assert retry_delay(2, SCHEDULE, jitter=0, rng=rng, retry_after=1, retry_after_cap=60) == 300


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", now=NOW) == 120
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:00 GMT", now=NOW) == 60
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=NOW) == 0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def test_subscriptions_match_types_and_filters() -> None:
    urgent = Subscription(
        event_types=frozenset({EventType.REFERRAL_ESCALATED}),
        filters={FilterField.URGENCY: frozenset({"urgent", "acute"})},
    )
    assert urgent.matches(EventType.REFERRAL_ESCALATED, view(), details_shared=True)
    assert not urgent.matches(EventType.REFERRAL_UPDATED, view(), details_shared=True)
    routine = view(urgency=Urgency.ROUTINE)
    assert not urgent.matches(EventType.REFERRAL_ESCALATED, routine, details_shared=True)
    assert not urgent.matches(EventType.REFERRAL_ESCALATED, view(urgency=None), details_shared=True)


def test_a_filter_on_a_gated_field_never_reveals_it() -> None:
    """Without the details, an urgency filter selects nothing: the message goes to every
    endpoint subscribed to the type, whatever the urgency."""
    urgent = Subscription(
        event_types=frozenset({EventType.REFERRAL_ESCALATED}),
        filters={FilterField.URGENCY: frozenset({"acute"})},
    )
    for urgency in Urgency:
        assert urgent.matches(
            EventType.REFERRAL_ESCALATED, view(urgency=urgency), details_shared=False
        )
    assert not urgent.matches(EventType.REFERRAL_UPDATED, view(), details_shared=False)


def test_the_payload_is_thin_and_stable() -> None:
    body = payload("referral.escalated", view(), details_url="https://x/r", at=NOW)
    assert body == {
        "type": "referral.escalated",
        "timestamp": "2026-03-01T12:00:00Z",
        "data": {
            "referral_id": "r",
            "partner_id": "p",
            "status": "sent",
            "url": "https://x/r",
        },
    }
    assert encode(body) == encode(dict(reversed(body.items())))


def test_the_escalation_webhook_says_sent_even_when_a_later_status_came_first() -> None:
    # An update projected before its escalation (two topics, no order between them) must not
    # make the escalation webhook break its documented `status: sent`.
    accepted = view(status="accepted")
    assert payload("referral.escalated", accepted, details_url="u", at=NOW)["data"] == {
        "referral_id": "r",
        "partner_id": "p",
        "status": "sent",
        "url": "u",
    }
    updated = payload("referral.updated", accepted, details_url="u", at=NOW)["data"]
    assert isinstance(updated, dict)
    assert updated["status"] == "accepted"


def test_statuses_move_forward_only_whatever_the_order() -> None:
    accepted = merge_status(
        None,
        referral_id="r",
        family_id="f",
        partner_id="p",
        status="accepted",
        outcome_code=None,
        at=NOW,
    )
    merged = merge_escalation(accepted, view())
    assert (merged.status, merged.escalated) == ("accepted", True)
    back = merge_status(
        merged,
        referral_id="r",
        family_id="f",
        partner_id="p",
        status="sent",
        outcome_code=None,
        at=NOW,
    )
    assert back.status == "accepted"
    closed = merge_status(
        merged,
        referral_id="r",
        family_id="f",
        partner_id="p",
        status="closed",
        outcome_code="done",
        at=NOW,
    )
    assert (closed.status, closed.outcome_code) == ("closed", "done")


@pytest.mark.parametrize(
    ("status", "reported", "ok"),
    [
        ("sent", ReferralStatus.ACCEPTED, True),
        ("sent", ReferralStatus.DECLINED, True),
        ("sent", ReferralStatus.CLOSED, False),
        ("accepted", ReferralStatus.CLOSED, True),
        ("declined", ReferralStatus.CLOSED, True),
        ("accepted", ReferralStatus.ACCEPTED, False),
        ("accepted", ReferralStatus.DECLINED, False),
        ("closed", ReferralStatus.CLOSED, False),
    ],
)
def test_transitions(status: str, reported: ReferralStatus, ok: bool) -> None:
    if ok:
        check_transition(view(status=status), reported)
    else:
        with pytest.raises(IllegalStatusError):
            check_transition(view(status=status), reported)


def test_the_latest_consent_wins() -> None:
    old = ConsentState(granted=True, changed_at=NOW)
    assert newer_consent(None, old)
    assert newer_consent(old, ConsentState(granted=False, changed_at=NOW + timedelta(seconds=1)))
    assert not newer_consent(old, ConsentState(granted=False, changed_at=NOW - timedelta(days=1)))


def test_a_tie_between_consent_changes_goes_to_the_withdrawal() -> None:
    granted = ConsentState(granted=True, changed_at=NOW)
    withdrawn = ConsentState(granted=False, changed_at=NOW)
    assert newer_consent(granted, withdrawn)
    assert not newer_consent(withdrawn, granted)


def test_the_consent_gate_decides_on_the_registered_kind() -> None:
    granted = ConsentState(granted=True, changed_at=NOW - timedelta(hours=1))
    withdrawn = ConsentState(granted=False, changed_at=NOW + timedelta(hours=1))
    youth_care = RegisteredPartner(PartnerKind.YOUTH_CARE, active=True)
    # `consent` is the family's consent for sharing with the REGISTERED kind (looked up by it).
    assert may_see_details(view(), youth_care, granted)
    assert not may_see_details(view(), youth_care, withdrawn)
    assert not may_see_details(view(), youth_care, None)  # a legal basis in an event is no proof
    assert not may_see_details(view(), None, granted)
    assert not may_see_details(view(), RegisteredPartner(PartnerKind.YOUTH_CARE, False), granted)
    assert not may_see_details(view(), RegisteredPartner(PartnerKind.OTHER, True), granted)
    assert not may_see_details(view(escalated_at=None), youth_care, granted)


def test_the_override_opens_a_partner_registered_as_veilig_thuis_only() -> None:
    """Notifications' check alone: the kind in the referral event is never looked at."""
    override = view(legal_basis=LegalBasis.MELDCODE_OVERRIDE, partner_kind=PartnerKind.VEILIG_THUIS)
    veilig_thuis = RegisteredPartner(PartnerKind.VEILIG_THUIS, active=True)
    assert may_see_details(override, veilig_thuis, None)
    for kind in PartnerKind:
        if kind is not PartnerKind.VEILIG_THUIS:
            assert not may_see_details(override, RegisteredPartner(kind, True), None), kind
    withdrawn = ConsentState(granted=False, changed_at=NOW)
    assert may_see_details(override, veilig_thuis, withdrawn)
    assert not may_see_details(override, RegisteredPartner(PartnerKind.VEILIG_THUIS, False), None)
