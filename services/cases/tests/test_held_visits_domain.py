"""Held offline visits and former holders in cases' domain (unit, no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from alamal_cases.domain import Case, CaseStatus, LogVisit, VisitRejectedError
from alamal_cases.domain.assignment import Assignment, assign
from alamal_cases.domain.held_visits import (
    AlreadyDecidedError,
    Decision,
    HeldState,
    HoldReason,
    decide,
    hold_reason,
    hold_visit,
)
from alamal_contracts.codes import TopicCode, VisitKind, Wijk

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
HOLDER, NEXT, FATHER = (str(uuid.uuid4()) for _ in range(3))
CASE = Case(
    id=str(uuid.uuid4()),
    family_id=str(uuid.uuid4()),
    wijk=Wijk.ZUIDWEST,
    trusted_person_id=HOLDER,
    status=CaseStatus.OPEN,
    opened_at=datetime(2026, 1, 15, 12, tzinfo=UTC),
    assigned_at=datetime(2026, 1, 15, 12, tzinfo=UTC),
)
VISIT = LogVisit(
    kind=VisitKind.HOME_VISIT,
    occurred_on=date(2026, 3, 9),
    duration_minutes=60,
    topic_codes=(TopicCode.MONEY,),
    strengths_observed=("Grandmother helps with homework",),
    private_note="Written on the phone in the living room",
)


def moved(case: Case, to: str, *, minutes: int, father: str | None = None) -> Case:
    """The case after intake reassigned it `minutes` after it was opened."""
    at = case.opened_at + timedelta(minutes=minutes)
    return assign(case, Assignment(case.family_id, to, father, at))


def test_a_reassignment_remembers_who_held_the_case_before() -> None:
    with_father = moved(CASE, HOLDER, minutes=1, father=FATHER)
    after = moved(with_father, NEXT, minutes=2)
    assert after.trusted_person_id == NEXT
    assert after.former_holders == (HOLDER, FATHER)
    again = moved(after, HOLDER, minutes=3)
    assert again.former_holders == (HOLDER, FATHER, NEXT), "each once, in the order they left"


def test_an_older_assignment_changes_nothing_not_even_the_former_holders() -> None:
    after = moved(CASE, NEXT, minutes=10)
    assert moved(after, str(uuid.uuid4()), minutes=5) == after


def test_the_reason_to_hold_an_offline_visit() -> None:
    after = moved(CASE, NEXT, minutes=1)
    closed = replace(CASE, status=CaseStatus.CLOSED)
    assert hold_reason(CASE, HOLDER) is None
    assert hold_reason(after, HOLDER) is HoldReason.REASSIGNED
    assert hold_reason(after, NEXT) is None
    assert hold_reason(closed, HOLDER) is HoldReason.CASE_CLOSED
    assert hold_reason(replace(after, status=CaseStatus.CLOSED), HOLDER) is HoldReason.CASE_CLOSED


def test_a_held_visit_is_checked_like_a_logged_one() -> None:
    future = replace(VISIT, occurred_on=date(2026, 3, 12))
    with pytest.raises(VisitRejectedError) as raised:
        hold_visit(
            CASE,
            future,
            held_id=str(uuid.uuid4()),
            by=HOLDER,
            reason=HoldReason.REASSIGNED,
            captured_at=NOW,
            now=NOW,
        )
    assert raised.value.field == "occurred_on"


def test_logging_a_held_visit_makes_the_author_s_visit_and_its_thin_event() -> None:
    item = hold_visit(
        replace(CASE, status=CaseStatus.CLOSED),
        VISIT,
        held_id=str(uuid.uuid4()),
        by=HOLDER,
        reason=HoldReason.CASE_CLOSED,
        captured_at=NOW - timedelta(hours=2),
        now=NOW,
    )
    coordinator = str(uuid.uuid4())
    later = NOW + timedelta(days=1)
    closed = replace(CASE, status=CaseStatus.CLOSED)
    visit_id = str(uuid.uuid4())
    decided, visit, event = decide(
        item, closed, Decision.LOG, visit_id=visit_id, by=coordinator, now=later
    )
    assert (decided.state, decided.decided_by, decided.visit_id) == (
        HeldState.LOGGED,
        coordinator,
        visit_id,
    )
    assert visit is not None
    assert event is not None
    assert (visit.trusted_person_id, visit.case_id, visit.private_note) == (
        HOLDER,
        CASE.id,
        VISIT.private_note,
    )
    assert event.visit_id == visit_id
    assert VISIT.private_note is not None
    assert VISIT.private_note not in event.model_dump_json()
    with pytest.raises(AlreadyDecidedError):
        decide(decided, closed, Decision.DISCARD, visit_id=visit_id, by=coordinator, now=later)


def test_discarding_drops_the_note_and_strengths() -> None:
    item = hold_visit(
        replace(CASE, status=CaseStatus.CLOSED),
        VISIT,
        held_id=str(uuid.uuid4()),
        by=HOLDER,
        reason=HoldReason.CASE_CLOSED,
        captured_at=NOW,
        now=NOW,
    )
    new_id = str(uuid.uuid4())
    decided, visit, event = decide(item, CASE, Decision.DISCARD, visit_id=new_id, by=NEXT, now=NOW)
    assert (visit, event) == (None, None)
    assert decided.state is HeldState.DISCARDED
    assert decided.visit.private_note is None
    assert decided.visit.strengths_observed == ()
    assert decided.visit.kind is VisitKind.HOME_VISIT, "codes and dates stay for the record"
