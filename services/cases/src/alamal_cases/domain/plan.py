"""The family's strengths-based plan: the strengths it brings, and goals set together with it.

Strengths, goal descriptions and progress notes are the family's own words: they stay in
cases' store. The event of a goal change carries its id, life domain, status and revision only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from alamal_cases.domain.cases import Case, CaseNotOpenError, CaseStatus, DomainError
from alamal_contracts.codes import GoalStatus, TopicCode
from alamal_contracts.events import GoalUpdated

MAX_PLAN_STRENGTHS: Final = 20
MAX_GOALS: Final = 30
MAX_TEXT_CHARS: Final = 500
MAX_NOTE_CHARS: Final = 2000
MAX_PROGRESS_NOTES: Final = 200

_NEXT: Final = {
    GoalStatus.OPEN: frozenset({GoalStatus.IN_PROGRESS, GoalStatus.REACHED, GoalStatus.STOPPED}),
    GoalStatus.IN_PROGRESS: frozenset({GoalStatus.REACHED, GoalStatus.STOPPED, GoalStatus.OPEN}),
    GoalStatus.REACHED: frozenset({GoalStatus.IN_PROGRESS}),
    GoalStatus.STOPPED: frozenset({GoalStatus.OPEN}),
}
"""Allowed status changes: a reached goal may be reopened as in progress, a stopped one as open."""


class PlanRejectedError(DomainError):
    """One field of a plan command breaks a rule; `field` names it (never quoting values)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class GoalTransitionError(DomainError):
    """The goal's status does not allow this change."""


@dataclass(frozen=True, slots=True)
class ProgressNote:
    """A dated remark on a goal's progress."""

    text: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal the family set, in one life domain."""

    id: str
    case_id: str
    family_id: str
    area: TopicCode
    description: str
    status: GoalStatus
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    progress_notes: tuple[ProgressNote, ...] = ()


@dataclass(frozen=True, slots=True)
class Strengths:
    """The strengths the family brings, as the trusted person wrote them down with it."""

    case_id: str
    items: tuple[str, ...]
    updated_by: str
    updated_at: datetime


def _text(field: str, value: str, limit: int) -> str:
    text = value.strip()
    if not text or len(text) > limit:
        raise PlanRejectedError(field, f"between 1 and {limit} characters")
    return text


def _open(case: Case) -> None:
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpenError("the case is closed")


def set_strengths(case: Case, items: tuple[str, ...], *, by: str, now: datetime) -> Strengths:
    """Replace the list of strengths (the whole list: it is short and edited as one)."""
    _open(case)
    if len(items) > MAX_PLAN_STRENGTHS:
        raise PlanRejectedError("items", f"at most {MAX_PLAN_STRENGTHS} strengths")
    cleaned = tuple(_text("items", item, MAX_TEXT_CHARS) for item in items)
    return Strengths(case_id=case.id, items=cleaned, updated_by=by, updated_at=now)


def _event(goal: Goal) -> GoalUpdated:
    return GoalUpdated(
        goal_id=goal.id,
        case_id=goal.case_id,
        family_id=goal.family_id,
        area=goal.area,
        status=goal.status,
        revision=goal.revision,
        updated_at=goal.updated_at,
    )


def add_goal(
    case: Case,
    *,
    goal_id: str,
    area: TopicCode,
    description: str,
    existing_goals: int,
    by: str,
    now: datetime,
) -> tuple[Goal, GoalUpdated]:
    """Set a new goal with the family; it starts open."""
    _open(case)
    if existing_goals >= MAX_GOALS:
        raise PlanRejectedError("description", f"a plan holds at most {MAX_GOALS} goals")
    goal = Goal(
        id=goal_id,
        case_id=case.id,
        family_id=case.family_id,
        area=area,
        description=_text("description", description, MAX_TEXT_CHARS),
        status=GoalStatus.OPEN,
        revision=1,
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    return goal, _event(goal)


def update_goal(
    case: Case,
    goal: Goal,
    *,
    status: GoalStatus | None,
    note: str | None,
    by: str,
    now: datetime,
) -> tuple[Goal, GoalUpdated]:
    """Change a goal's status and/or add a progress note; at least one of the two."""
    _open(case)
    if status is None and note is None:
        raise PlanRejectedError("status", "give a new status, a progress note, or both")
    if status is not None and status is not goal.status and status not in _NEXT[goal.status]:
        raise GoalTransitionError(f"a {goal.status} goal cannot become {status}")
    notes = goal.progress_notes
    if note is not None:
        if len(notes) >= MAX_PROGRESS_NOTES:
            raise PlanRejectedError("note", f"a goal holds at most {MAX_PROGRESS_NOTES} notes")
        notes = (*notes, ProgressNote(_text("note", note, MAX_NOTE_CHARS), by, now))
    changed = replace(
        goal,
        status=goal.status if status is None else status,
        progress_notes=notes,
        revision=goal.revision + 1,
        updated_at=now,
    )
    return changed, _event(changed)
