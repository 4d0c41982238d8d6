"""Unit tests: assignments folded in any order, and caseloads (pure domain, no I/O)."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from alamal_cases.domain import Case, CaseStatus, Visit
from alamal_cases.domain.assignment import Assignment, assign, newer
from alamal_cases.domain.caseload import caseload, loads
from alamal_contracts.codes import VisitKind, Wijk

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
FAMILY = "0b9f4c1e-7d52-4a1b-9b43-5f0c2e8a1d01"
AMINA, KHADIJA, YOUSSEF, OMAR = (str(uuid.UUID(int=i)) for i in range(1, 5))


def make_case(holder: str = AMINA, *, days_open: int = 30, father: str | None = None) -> Case:
    return Case(
        id=str(uuid.uuid4()),
        family_id=str(uuid.uuid4()),
        wijk=Wijk.OVERVECHT,
        trusted_person_id=holder,
        status=CaseStatus.OPEN,
        opened_at=T0 - timedelta(days=days_open),
        father_trusted_person_id=father,
        assigned_at=T0 - timedelta(days=days_open),
    )


def visit(case: Case, on: date, follow_up: date | None = None) -> Visit:
    return Visit(
        id=str(uuid.uuid4()),
        case_id=case.id,
        family_id=case.family_id,
        wijk=case.wijk,
        trusted_person_id=case.trusted_person_id,
        kind=VisitKind.HOME_VISIT,
        occurred_on=on,
        duration_minutes=30,
        topic_codes=(),
        strengths_observed=(),
        private_note=None,
        follow_up_on=follow_up,
        logged_at=T0,
    )


STREAM = [
    Assignment(FAMILY, AMINA, None, T0),
    Assignment(FAMILY, KHADIJA, None, T0 + timedelta(days=3)),
    Assignment(FAMILY, KHADIJA, YOUSSEF, T0 + timedelta(days=9)),
    Assignment(FAMILY, AMINA, OMAR, T0 + timedelta(days=9)),  # same instant: ids decide
    Assignment(FAMILY, AMINA, YOUSSEF, T0 + timedelta(days=4)),
]


def fold(stream: list[Assignment]) -> Assignment:
    current: Assignment | None = None
    for incoming in stream:
        current = newer(current, incoming)
    assert current is not None
    return current


@pytest.mark.parametrize("seed", range(25))
def test_shuffled_duplicated_assignment_streams_give_the_in_order_result(seed: int) -> None:
    rng = random.Random(seed)
    replay = STREAM + rng.sample(STREAM, k=3)
    rng.shuffle(replay)
    in_order = fold(STREAM)
    assert fold(replay) == in_order
    base = make_case(AMINA)
    by_events = base
    for incoming in replay:
        by_events = assign(by_events, incoming)
    assert (by_events.trusted_person_id, by_events.father_trusted_person_id) == (
        in_order.trusted_person_id,
        in_order.father_trusted_person_id,
    )


def test_an_older_assignment_never_moves_a_case_back() -> None:
    case = assign(make_case(AMINA), Assignment(FAMILY, KHADIJA, YOUSSEF, T0 + timedelta(days=2)))
    assert case.held_by(KHADIJA)
    assert case.held_by(YOUSSEF)
    assert assign(case, Assignment(FAMILY, AMINA, None, T0 + timedelta(days=1))) == case


def test_caseload_puts_the_most_overdue_first_then_the_next_follow_up() -> None:
    calm, soon, late, later, closed = (make_case(days_open=d) for d in (50, 40, 30, 20, 10))
    closed = replace(closed, status=CaseStatus.CLOSED)
    visits = [
        visit(calm, TODAY - timedelta(days=3)),
        visit(soon, TODAY - timedelta(days=2), follow_up=TODAY + timedelta(days=2)),
        visit(late, TODAY - timedelta(days=20), follow_up=TODAY - timedelta(days=5)),
        visit(later, TODAY - timedelta(days=20), follow_up=TODAY - timedelta(days=12)),
        visit(closed, TODAY - timedelta(days=20), follow_up=TODAY - timedelta(days=15)),
    ]
    entries = caseload([calm, soon, late, later, closed], visits, TODAY)
    assert [e.case_id for e in entries] == [later.id, late.id, soon.id, calm.id]
    assert [e.days_overdue for e in entries] == [12, 5, 0, 0]
    assert entries[2].next_follow_up_on == TODAY + timedelta(days=2)
    assert entries[3].last_contact_on == TODAY - timedelta(days=3)
    assert entries[3].next_follow_up_on is None


def test_a_later_contact_meets_a_follow_up() -> None:
    case = make_case()
    visits = [
        visit(case, TODAY - timedelta(days=20), follow_up=TODAY - timedelta(days=10)),
        visit(case, TODAY - timedelta(days=9)),
    ]
    (entry,) = caseload([case], visits, TODAY)
    assert entry.days_overdue == 0
    assert entry.visits == 2


def test_loads_count_the_fathers_trusted_person_too() -> None:
    a = make_case(AMINA, father=YOUSSEF)
    b = make_case(AMINA)
    c = make_case(KHADIJA)
    visits = [visit(b, TODAY - timedelta(days=20), follow_up=TODAY - timedelta(days=1))]
    result = {
        h.trusted_person_id: (h.open_cases, h.overdue_cases)
        for h in loads(caseload([a, b, c], visits, TODAY))
    }
    assert result == {AMINA: (2, 1), YOUSSEF: (1, 0), KHADIJA: (1, 0)}
