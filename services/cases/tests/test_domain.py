"""Cases' domain (unit, no I/O): opening the first case for a registered family."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alamal_cases.domain import CaseStatus, open_case
from alamal_contracts.codes import Wijk

from .conftest import registration

CASE_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def test_open_case_gives_the_family_an_open_case_with_its_trusted_person() -> None:
    registered = registration(wijk=Wijk.ZUIDWEST)
    case, ref, opened = open_case(registered, case_id=CASE_ID, now=NOW)
    assert case.id == CASE_ID
    assert case.family_id == registered.family_id
    assert case.trusted_person_id == registered.trusted_person_id
    assert case.wijk is Wijk.ZUIDWEST
    assert case.status is CaseStatus.OPEN
    assert case.opened_at == NOW
    assert (ref.family_id, ref.wijk, ref.trusted_person_id, ref.open_case_id) == (
        registered.family_id,
        Wijk.ZUIDWEST,
        registered.trusted_person_id,
        CASE_ID,
    )
    assert (opened.case_id, opened.family_id, opened.trusted_person_id, opened.wijk) == (
        CASE_ID,
        registered.family_id,
        registered.trusted_person_id,
        Wijk.ZUIDWEST,
    )
    assert opened.opened_at == NOW


def test_case_opened_carries_ids_and_codes_only() -> None:
    _, _, opened = open_case(registration(), case_id=CASE_ID, now=NOW)
    assert set(json.loads(opened.model_dump_json())) == {
        "case_id",
        "family_id",
        "trusted_person_id",
        "wijk",
        "opened_at",
    }
