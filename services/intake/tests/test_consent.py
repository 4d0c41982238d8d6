"""A family's consent history (unit, no I/O): append-only records, current answer, thin event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.events import ConsentChanged
from alamal_intake.consent import (
    RecordConsent,
    current_consent,
    current_consents,
    record_consent,
)
from alamal_intake.domain import Consent, ConsentBasis, Family, register_family

from .test_domain import COMMAND, FAMILY_ID, NOW, REGISTRAR

STAFF = "12345678-90ab-4cde-8f01-234567890abc"
LATER = NOW + timedelta(days=30)
CARE, REPORTING = ConsentPurpose.CARE, ConsentPurpose.REPORTING


def registered() -> Family:
    """The test family as registered: care granted, reporting refused, text 2025-01."""
    family, _ = register_family(COMMAND, family_id=FAMILY_ID, registered_by=REGISTRAR, now=NOW)
    return family


def answer(purpose: ConsentPurpose, granted: bool, at: datetime = NOW) -> Consent:
    """One record with neutral metadata."""
    return Consent(
        purpose=purpose, granted=granted, recorded_by=STAFF, recorded_at=at, text_version="v1"
    )


def test_registration_consents_are_the_first_records() -> None:
    family = registered()
    assert [(c.purpose, c.granted, c.basis) for c in family.consents] == [
        (CARE, True, None),
        (REPORTING, False, None),
    ]
    assert current_consents(family.consents) == family.consents


def test_a_withdrawal_is_a_new_record_and_becomes_current() -> None:
    before = registered()
    withdrawal = RecordConsent(purpose=CARE, granted=False, text_version="2025-09")
    after, record, _ = record_consent(before, withdrawal, recorded_by=STAFF, now=LATER)
    assert after.consents == (*before.consents, record)  # appended, nothing edited
    assert before.consents[0].granted is True  # the old record is untouched
    assert record == Consent(
        purpose=CARE, granted=False, recorded_by=STAFF, recorded_at=LATER, text_version="2025-09"
    )
    assert current_consent(after.consents, CARE) == record
    assert [(c.purpose, c.granted) for c in current_consents(after.consents)] == [
        (CARE, False),
        (REPORTING, False),
    ]


def test_history_keeps_every_record_in_the_order_recorded() -> None:
    family = registered()
    steps = [(REPORTING, True), (CARE, False), (CARE, True), (REPORTING, False)]
    for day, (purpose, granted) in enumerate(steps, start=1):
        family, _, _ = record_consent(
            family,
            RecordConsent(purpose=purpose, granted=granted, text_version=f"v{day}"),
            recorded_by=STAFF,
            now=NOW + timedelta(days=day),
        )
    assert [(c.purpose, c.granted, c.text_version) for c in family.consents] == [
        (CARE, True, "2025-01"),
        (REPORTING, False, "2025-01"),
        (REPORTING, True, "v1"),
        (CARE, False, "v2"),
        (CARE, True, "v3"),
        (REPORTING, False, "v4"),
    ]
    # One current answer per purpose, in the order each purpose was first recorded.
    assert [(c.purpose, c.text_version) for c in current_consents(family.consents)] == [
        (CARE, "v3"),
        (REPORTING, "v4"),
    ]


def test_latest_means_last_appended_not_latest_clock() -> None:
    history = (answer(CARE, True, at=LATER), answer(CARE, False, at=NOW))  # a skewed clock
    assert current_consent(history, CARE) == history[1]


def test_a_purpose_never_asked_has_no_current_answer() -> None:
    assert current_consent(registered().consents, ConsentPurpose.SHARE_POLICE) is None
    assert current_consents(()) == ()


def test_repeating_the_current_answer_is_still_recorded() -> None:
    before = registered()
    again = RecordConsent(
        purpose=CARE, granted=True, text_version="2025-09", basis=ConsentBasis.WRITTEN
    )
    after, record, event = record_consent(before, again, recorded_by=STAFF, now=LATER)
    assert len(after.consents) == len(before.consents) + 1
    assert record.basis is ConsentBasis.WRITTEN
    assert event.granted is True


def test_the_event_is_thin() -> None:
    command = RecordConsent(
        purpose=ConsentPurpose.SHARE_SCHOOL,
        granted=True,
        text_version="2025-09",
        basis=ConsentBasis.VERBAL,
    )
    _, _, event = record_consent(registered(), command, recorded_by=STAFF, now=LATER)
    assert event == ConsentChanged(
        family_id=FAMILY_ID,
        purpose=ConsentPurpose.SHARE_SCHOOL,
        granted=True,
        changed_at=LATER,
        consent_text_version="2025-09",
    )
    text = event.model_dump_json()
    assert STAFF not in text  # who recorded it stays in intake
    assert "verbal" not in text
    for planted in ("Fatima", "El Amrani", "Yasmine", "Samira", "1984", "2016"):
        assert planted not in text
    assert set(json.loads(text)) == {
        "family_id",
        "purpose",
        "granted",
        "changed_at",
        "consent_text_version",
    }
    assert event.changed_at.tzinfo is UTC
