"""Visits in cases' domain (unit, no I/O): logging rules and overdue follow-ups."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from alamal_cases.domain import (
    Case,
    CaseNotOpenError,
    CaseStatus,
    LogVisit,
    Visit,
    VisitRejectedError,
    log_visit,
    overdue_follow_ups,
)
from alamal_contracts.codes import TopicCode, VisitKind, Wijk

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
HOLDER = str(uuid.uuid4())
CASE = Case(
    id=str(uuid.uuid4()),
    family_id=str(uuid.uuid4()),
    wijk=Wijk.OVERVECHT,
    trusted_person_id=HOLDER,
    status=CaseStatus.OPEN,
    opened_at=datetime(2025, 1, 15, 12, tzinfo=UTC),
)
COMMAND = LogVisit(
    kind=VisitKind.HOME_VISIT,
    occurred_on=date(2025, 3, 9),
    duration_minutes=60,
    topic_codes=(TopicCode.SCHOOL, TopicCode.MONEY),
    strengths_observed=("Strong network of neighbours",),
    private_note="Note for the file only",
    follow_up_on=date(2025, 3, 20),
)


def logged(command: LogVisit = COMMAND, case: Case = CASE) -> tuple[Visit, object]:
    """Log `command` on `case` at NOW."""
    return log_visit(case, command, visit_id=str(uuid.uuid4()), by=HOLDER, now=NOW)


def test_log_visit_records_the_contact_and_a_thin_event() -> None:
    visit_id = str(uuid.uuid4())
    visit, event = log_visit(CASE, COMMAND, visit_id=visit_id, by=HOLDER, now=NOW)
    assert (visit.id, visit.case_id, visit.family_id, visit.wijk) == (
        visit_id,
        CASE.id,
        CASE.family_id,
        Wijk.OVERVECHT,
    )
    assert visit.trusted_person_id == HOLDER
    assert visit.private_note == COMMAND.private_note
    assert visit.follow_up_on == COMMAND.follow_up_on
    assert visit.logged_at == NOW
    data = json.loads(event.model_dump_json())
    assert set(data) == {
        "visit_id",
        "case_id",
        "family_id",
        "kind",
        "occurred_on",
        "duration_minutes",
        "topic_codes",
        "trusted_person_id",
    }
    assert data["topic_codes"] == ["school", "money"]
    assert data["occurred_on"] == "2025-03-09"


def test_a_closed_case_takes_no_visits() -> None:
    with pytest.raises(CaseNotOpenError):
        logged(case=replace(CASE, status=CaseStatus.CLOSED))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"occurred_on": date(2025, 3, 11)}, "occurred_on", id="future"),
        pytest.param({"occurred_on": date(2024, 1, 14)}, "occurred_on", id="over-a-year-early"),
        pytest.param({"follow_up_on": date(2025, 3, 8)}, "follow_up_on", id="follow-up-early"),
        pytest.param({"duration_minutes": 0}, "duration_minutes", id="duration-0"),
        pytest.param({"duration_minutes": 721}, "duration_minutes", id="duration-721"),
        pytest.param(
            {"topic_codes": (TopicCode.SCHOOL, TopicCode.SCHOOL)}, "topic_codes", id="dup-topics"
        ),
        pytest.param({"strengths_observed": ("x",) * 11}, "strengths_observed", id="11-strengths"),
        pytest.param(
            {"strengths_observed": ("x" * 201,)}, "strengths_observed", id="long-strength"
        ),
        pytest.param({"private_note": "x" * 4001}, "private_note", id="long-note"),
    ],
)
def test_rules_name_the_field_they_refuse(change: dict[str, object], field: str) -> None:
    with pytest.raises(VisitRejectedError) as refused:
        logged(replace(COMMAND, **change))  # type: ignore[arg-type]
    assert refused.value.field == field


def test_bounds_are_inclusive() -> None:
    logged(replace(COMMAND, occurred_on=date(2024, 1, 15), follow_up_on=None))
    logged(replace(COMMAND, occurred_on=date(2025, 3, 10), follow_up_on=date(2025, 3, 10)))
    logged(replace(COMMAND, duration_minutes=1))
    logged(replace(COMMAND, duration_minutes=720))


def test_today_is_the_day_in_utrecht() -> None:
    late_evening = datetime(2025, 3, 10, 23, 30, tzinfo=UTC)  # 00:30 on 11 March in Utrecht
    log_visit(
        CASE,
        replace(COMMAND, occurred_on=date(2025, 3, 11), follow_up_on=None),
        visit_id=str(uuid.uuid4()),
        by=HOLDER,
        now=late_evening,
    )


def visit(occurred_on: date, follow_up_on: date | None = None, *, case_id: str = CASE.id) -> Visit:
    """A stored visit on a case."""
    return Visit(
        id=str(uuid.uuid4()),
        case_id=case_id,
        family_id=CASE.family_id,
        wijk=CASE.wijk,
        trusted_person_id=HOLDER,
        kind=VisitKind.PHONE,
        occurred_on=occurred_on,
        duration_minutes=15,
        topic_codes=(),
        strengths_observed=(),
        private_note=None,
        follow_up_on=follow_up_on,
        logged_at=NOW,
    )


TODAY = date(2025, 3, 10)


def test_a_passed_follow_up_without_a_later_visit_is_overdue() -> None:
    due = visit(date(2025, 2, 1), date(2025, 3, 1))
    (item,) = overdue_follow_ups([due], TODAY)
    assert (item.case_id, item.family_id, item.visit_id) == (CASE.id, CASE.family_id, due.id)
    assert item.follow_up_on == date(2025, 3, 1)
    assert item.days_overdue == 9


def test_a_visit_on_or_after_the_follow_up_day_satisfies_it() -> None:
    due = visit(date(2025, 2, 1), date(2025, 3, 1))
    assert overdue_follow_ups([due, visit(date(2025, 3, 1))], TODAY) == []
    assert overdue_follow_ups([due, visit(date(2025, 3, 5))], TODAY) == []


def test_an_earlier_visit_or_one_on_another_case_does_not_satisfy_it() -> None:
    due = visit(date(2025, 2, 1), date(2025, 3, 1))
    others = [visit(date(2025, 2, 20)), visit(date(2025, 3, 5), case_id=str(uuid.uuid4()))]
    assert [o.visit_id for o in overdue_follow_ups([due, *others], TODAY)] == [due.id]


def test_follow_ups_due_today_or_later_are_not_overdue() -> None:
    assert overdue_follow_ups([visit(date(2025, 3, 1), TODAY)], TODAY) == []
    assert overdue_follow_ups([visit(date(2025, 3, 1), date(2025, 4, 1))], TODAY) == []
    assert overdue_follow_ups([visit(date(2025, 3, 1))], TODAY) == []


def test_a_follow_up_on_the_visit_day_is_not_satisfied_by_that_visit_itself() -> None:
    due = visit(date(2025, 3, 1), date(2025, 3, 1))
    assert [o.visit_id for o in overdue_follow_ups([due], TODAY)] == [due.id]


def test_most_overdue_comes_first() -> None:
    older = visit(date(2025, 1, 1), date(2025, 1, 10), case_id=str(uuid.uuid4()))
    newer = visit(date(2025, 2, 1), date(2025, 2, 10), case_id=str(uuid.uuid4()))
    assert [o.visit_id for o in overdue_follow_ups([newer, older], TODAY)] == [older.id, newer.id]
