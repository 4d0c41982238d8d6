"""Unit tests: the strengths-based plan and case closure (pure domain, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alamal_cases.domain import Case, CaseNotOpenError, CaseStatus
from alamal_cases.domain.cases import CaseRejectedError, close_case
from alamal_cases.domain.plan import (
    MAX_GOALS,
    GoalTransitionError,
    PlanRejectedError,
    add_goal,
    set_strengths,
    update_goal,
)
from alamal_contracts.codes import GoalStatus, TopicCode, Wijk
from alamal_contracts.privacy import personal_data_fields

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CASE = Case(
    id="0b9f4c1e-7d52-4a1b-9b43-5f0c2e8a1d01",
    family_id="1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e02",
    wijk=Wijk.OVERVECHT,
    trusted_person_id="2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f03",
    status=CaseStatus.OPEN,
    opened_at=NOW - timedelta(days=30),
)
CLOSED = replace(CASE, status=CaseStatus.CLOSED)
GOAL_ID = "3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a04"
BY = CASE.trusted_person_id


def test_a_new_goal_is_open_and_its_event_carries_no_text() -> None:
    goal, event = add_goal(
        CASE,
        goal_id=GOAL_ID,
        area=TopicCode.SCHOOL,
        description="  Yasmine goes to school every day  ",
        existing_goals=0,
        by=BY,
        now=NOW,
    )
    assert goal.status is GoalStatus.OPEN
    assert goal.description == "Yasmine goes to school every day"
    assert goal.revision == event.revision == 1
    assert (event.goal_id, event.case_id, event.family_id) == (GOAL_ID, CASE.id, CASE.family_id)
    assert "Yasmine" not in event.model_dump_json()
    assert personal_data_fields(type(event)) == []


def test_status_changes_follow_the_allowed_paths_and_count_revisions() -> None:
    goal, _ = add_goal(
        CASE,
        goal_id=GOAL_ID,
        area=TopicCode.MONEY,
        description="Budget",
        existing_goals=0,
        by=BY,
        now=NOW,
    )
    later = NOW + timedelta(days=1)
    goal, event = update_goal(
        CASE, goal, status=GoalStatus.IN_PROGRESS, note=None, by=BY, now=later
    )
    goal, event = update_goal(
        CASE, goal, status=GoalStatus.REACHED, note="Paid the rent on time", by=BY, now=later
    )
    assert goal.status is event.status is GoalStatus.REACHED
    assert goal.revision == event.revision == 3
    assert [n.text for n in goal.progress_notes] == ["Paid the rent on time"]
    assert "rent" not in event.model_dump_json()
    with pytest.raises(GoalTransitionError):
        update_goal(CASE, goal, status=GoalStatus.STOPPED, note=None, by=BY, now=later)
    reopened, _ = update_goal(
        CASE, goal, status=GoalStatus.IN_PROGRESS, note=None, by=BY, now=later
    )
    assert reopened.status is GoalStatus.IN_PROGRESS


def test_a_note_alone_keeps_the_status_and_an_empty_change_is_refused() -> None:
    goal, _ = add_goal(
        CASE,
        goal_id=GOAL_ID,
        area=TopicCode.HEALTH,
        description="GP visit",
        existing_goals=0,
        by=BY,
        now=NOW,
    )
    noted, _ = update_goal(CASE, goal, status=None, note="Called the GP", by=BY, now=NOW)
    assert noted.status is GoalStatus.OPEN
    assert noted.revision == 2
    with pytest.raises(PlanRejectedError) as empty:
        update_goal(CASE, goal, status=None, note=None, by=BY, now=NOW)
    assert empty.value.field == "status"
    with pytest.raises(PlanRejectedError) as blank:
        update_goal(CASE, goal, status=None, note="   ", by=BY, now=NOW)
    assert blank.value.field == "note"


def test_limits_and_closed_cases() -> None:
    with pytest.raises(PlanRejectedError) as full:
        add_goal(
            CASE,
            goal_id=GOAL_ID,
            area=TopicCode.WORK,
            description="Job",
            existing_goals=MAX_GOALS,
            by=BY,
            now=NOW,
        )
    assert full.value.field == "description"
    with pytest.raises(CaseNotOpenError):
        add_goal(
            CLOSED,
            goal_id=GOAL_ID,
            area=TopicCode.WORK,
            description="Job",
            existing_goals=0,
            by=BY,
            now=NOW,
        )
    with pytest.raises(CaseNotOpenError):
        set_strengths(CLOSED, ("Warm family",), by=BY, now=NOW)
    with pytest.raises(PlanRejectedError) as too_many:
        set_strengths(CASE, tuple(f"s{i}" for i in range(21)), by=BY, now=NOW)
    assert too_many.value.field == "items"
    strengths = set_strengths(CASE, (" Warm family ", "Speaks three languages"), by=BY, now=NOW)
    assert strengths.items == ("Warm family", "Speaks three languages")


def test_closing_a_case_records_codes_and_emits_a_thin_event() -> None:
    closed, event = close_case(CASE, ("goals-reached", "referred-on"), by=BY, now=NOW)
    assert closed.status is CaseStatus.CLOSED
    assert (closed.closed_at, closed.closed_by) == (NOW, BY)
    assert event.outcome_codes == ("goals-reached", "referred-on")
    assert (event.case_id, event.family_id, event.closed_at) == (CASE.id, CASE.family_id, NOW)
    with pytest.raises(CaseNotOpenError):
        close_case(closed, ("again",), by=BY, now=NOW)


@pytest.mark.parametrize(
    "codes", [(), ("a", "a"), ("Not A Code",), tuple(f"c{i}" for i in range(21))]
)
def test_closing_needs_valid_distinct_codes(codes: tuple[str, ...]) -> None:
    with pytest.raises(CaseRejectedError) as rejected:
        close_case(CASE, codes, by=BY, now=NOW)
    assert rejected.value.field == "outcome_codes"
