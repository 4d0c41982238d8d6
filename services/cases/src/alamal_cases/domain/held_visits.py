"""Visits captured offline that met a changed case: held for a coordinator's decision.

A trusted person may log a visit on her phone without a connection; by the time the device
sends it, the case may have been closed or moved to another trusted person. Such a visit is
not refused and not lost: it is held, shown to her with the reason, and waits in the
coordinators' inbox of the case's wijk until one of them logs it on the case or discards it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from alamal_cases.domain.cases import (
    Case,
    CaseStatus,
    DomainError,
    LogVisit,
    Visit,
    VisitRejectedError,
    check_visit,
    visit_logged,
)
from alamal_contracts.events import VisitLogged


class HoldReason(StrEnum):
    """Why an offline visit could not simply be logged."""

    CASE_CLOSED = "case-closed"
    REASSIGNED = "reassigned"


class HeldState(StrEnum):
    """Where a held visit stands."""

    WAITING = "waiting"
    LOGGED = "logged"
    DISCARDED = "discarded"


class Decision(StrEnum):
    """What a coordinator decides for a held visit."""

    LOG = "log"
    DISCARD = "discard"


class AlreadyDecidedError(DomainError):
    """A coordinator decided on this held visit already."""


@dataclass(frozen=True, slots=True)
class HeldVisit:
    """An offline visit kept aside with the reason; its note stays in cases' store only."""

    id: str
    case_id: str
    family_id: str
    wijk: str
    author_id: str
    """The trusted person who made the contact and captured it on her device."""
    reason: HoldReason
    visit: LogVisit
    captured_at: datetime
    held_at: datetime
    state: HeldState = HeldState.WAITING
    decided_by: str | None = None
    decided_at: datetime | None = None
    visit_id: str | None = None
    """The visit it became once a coordinator logged it."""


def hold_reason(case: Case, user_id: str) -> HoldReason | None:
    """Why an offline visit by `user_id` cannot be logged on `case` now (None: it can)."""
    if case.status is CaseStatus.CLOSED:
        return HoldReason.CASE_CLOSED
    if not case.held_by(user_id) and user_id in case.former_holders:
        return HoldReason.REASSIGNED
    return None


def hold_visit(
    case: Case,
    command: LogVisit,
    *,
    held_id: str,
    by: str,
    reason: HoldReason,
    captured_at: datetime,
    now: datetime,
) -> HeldVisit:
    """Keep an offline visit aside; its fields are checked as a logged visit's would be."""
    check_visit(case, command, now=now, open_only=False)
    return HeldVisit(
        id=held_id,
        case_id=case.id,
        family_id=case.family_id,
        wijk=case.wijk.value,
        author_id=by,
        reason=reason,
        visit=command,
        captured_at=captured_at,
        held_at=now,
    )


def decide(
    held: HeldVisit, case: Case, decision: Decision, *, visit_id: str, by: str, now: datetime
) -> tuple[HeldVisit, Visit | None, VisitLogged | None]:
    """Log the held visit on its case (whatever the case's state now) or discard it.

    Logged, it counts as the author's contact; discarded, its note and strengths are dropped.
    """
    if held.state is not HeldState.WAITING:
        raise AlreadyDecidedError("a coordinator decided on this visit already")
    if decision is Decision.DISCARD:
        blank = replace(held.visit, strengths_observed=(), private_note=None)
        decided = replace(
            held, visit=blank, state=HeldState.DISCARDED, decided_by=by, decided_at=now
        )
        return decided, None, None
    visit = Visit(
        id=visit_id,
        case_id=case.id,
        family_id=case.family_id,
        wijk=case.wijk,
        trusted_person_id=held.author_id,
        kind=held.visit.kind,
        occurred_on=held.visit.occurred_on,
        duration_minutes=held.visit.duration_minutes,
        topic_codes=held.visit.topic_codes,
        strengths_observed=held.visit.strengths_observed,
        private_note=held.visit.private_note,
        follow_up_on=held.visit.follow_up_on,
        logged_at=now,
    )
    decided = replace(
        held, state=HeldState.LOGGED, decided_by=by, decided_at=now, visit_id=visit.id
    )
    return decided, visit, visit_logged(visit)


__all__ = [
    "AlreadyDecidedError",
    "Decision",
    "HeldState",
    "HeldVisit",
    "HoldReason",
    "VisitRejectedError",
    "decide",
    "hold_reason",
    "hold_visit",
]
