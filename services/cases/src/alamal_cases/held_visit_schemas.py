"""Held visits' request and answer models (shared by the visit and held-visit routes)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from alamal_cases.domain.held_visits import Decision, HeldState, HeldVisit, HoldReason
from alamal_contracts.codes import TopicCode, VisitKind, Wijk


class HeldVisitOut(BaseModel):
    """A held visit, note included (for its author and the coordinators who decide)."""

    id: str
    case_id: str
    family_id: str
    wijk: Wijk
    author_id: str
    reason: HoldReason
    state: HeldState
    kind: VisitKind
    occurred_on: date
    duration_minutes: int
    topic_codes: list[TopicCode]
    strengths_observed: list[str]
    private_note: str | None
    follow_up_on: date | None
    captured_at: datetime
    held_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    visit_id: str | None

    @classmethod
    def of(cls, held: HeldVisit) -> HeldVisitOut:
        """The answer for one held visit."""
        v = held.visit
        return cls(
            id=held.id,
            case_id=held.case_id,
            family_id=held.family_id,
            wijk=Wijk(held.wijk),
            author_id=held.author_id,
            reason=held.reason,
            state=held.state,
            kind=v.kind,
            occurred_on=v.occurred_on,
            duration_minutes=v.duration_minutes,
            topic_codes=list(v.topic_codes),
            strengths_observed=list(v.strengths_observed),
            private_note=v.private_note,
            follow_up_on=v.follow_up_on,
            captured_at=held.captured_at,
            held_at=held.held_at,
            decided_by=held.decided_by,
            decided_at=held.decided_at,
            visit_id=held.visit_id,
        )


class DecisionIn(BaseModel):
    """A coordinator's decision on a held visit."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision
