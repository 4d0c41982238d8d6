"""The consent projection (unit, no I/O): any order, any duplicates, one result."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from alamal_cases.domain.consent import (
    ConsentRecord,
    from_change,
    from_registration,
    merge,
    newer,
)
from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.events import ConsentChanged

from .conftest import registration

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
FAMILY = str(uuid.uuid4())


def record(
    purpose: ConsentPurpose, granted: bool, minutes: int, version: str | None = "2025-09"
) -> ConsentRecord:
    """A consent record `minutes` after T0."""
    return ConsentRecord(FAMILY, purpose, granted, T0 + timedelta(minutes=minutes), version)


STREAM = [
    record(ConsentPurpose.CARE, True, 0, None),
    record(ConsentPurpose.SHARE_POLICE, False, 0, None),
    record(ConsentPurpose.SHARE_POLICE, True, 5),
    record(ConsentPurpose.REPORTING, True, 7),
    record(ConsentPurpose.SHARE_POLICE, False, 9),
    record(ConsentPurpose.SHARE_POLICE, True, 12),
    record(ConsentPurpose.REPORTING, False, 30),
    record(ConsentPurpose.CARE, False, 31),
    record(ConsentPurpose.CARE, True, 40),
]


def test_in_order_the_last_change_per_purpose_wins() -> None:
    current = merge(STREAM)
    assert {p: (r.granted, r.changed_at) for p, r in current.items()} == {
        ConsentPurpose.CARE: (True, T0 + timedelta(minutes=40)),
        ConsentPurpose.SHARE_POLICE: (True, T0 + timedelta(minutes=12)),
        ConsentPurpose.REPORTING: (False, T0 + timedelta(minutes=30)),
    }


@pytest.mark.parametrize("seed", range(25))
def test_shuffled_and_duplicated_streams_give_the_in_order_result(seed: int) -> None:
    rng = random.Random(seed)
    stream = STREAM + rng.choices(STREAM, k=rng.randint(1, 12))
    rng.shuffle(stream)
    assert merge(stream) == merge(STREAM)


def test_merging_in_parts_equals_merging_at_once() -> None:
    first, second = STREAM[::2], STREAM[1::2]
    assert merge(second, into=merge(first)) == merge(STREAM)
    assert merge(STREAM, into=merge(STREAM)) == merge(STREAM)


def test_on_a_tie_the_withdrawal_wins_whatever_the_order() -> None:
    granted = record(ConsentPurpose.SHARE_GGD, True, 3)
    withdrawn = record(ConsentPurpose.SHARE_GGD, False, 3)
    assert newer(granted, withdrawn) == newer(withdrawn, granted) == withdrawn


def test_an_older_change_does_not_replace_a_newer_one() -> None:
    new = record(ConsentPurpose.SHARE_WELFARE, True, 10)
    assert newer(new, record(ConsentPurpose.SHARE_WELFARE, False, 1)) == new
    assert newer(None, new) == new


def test_registration_flags_count_at_registered_at_and_a_later_change_wins() -> None:
    registered = registration()
    (care,) = from_registration(registered)
    assert (care.purpose, care.granted, care.changed_at) == (
        ConsentPurpose.CARE,
        True,
        registered.registered_at,
    )
    withdrawn = from_change(
        ConsentChanged(
            family_id=registered.family_id,
            purpose=ConsentPurpose.CARE,
            granted=False,
            changed_at=registered.registered_at + timedelta(seconds=1),
            consent_text_version="2025-09",
        )
    )
    for order in ([care, withdrawn], [withdrawn, care]):
        assert merge(order)[ConsentPurpose.CARE] == withdrawn
