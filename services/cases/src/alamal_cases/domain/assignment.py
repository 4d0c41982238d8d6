"""Who holds a case: intake's assignments, folded so that any order of events gives one result.

Intake assigns the trusted person at registration and may reassign later (also the father's
trusted person in Tussen In). Events may arrive twice or out of order (a replay, a rebalance):
the assignment with the latest time wins, ties broken by the ids so every replica agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from alamal_cases.domain.cases import Case
from alamal_contracts.events import FamilyReassigned, FamilyRegistered


@dataclass(frozen=True, slots=True)
class Assignment:
    """The trusted persons intake assigned to a family at one moment."""

    family_id: str
    trusted_person_id: str
    father_trusted_person_id: str | None
    at: datetime

    def _order(self) -> tuple[datetime, str, str]:
        return (self.at, self.trusted_person_id, self.father_trusted_person_id or "")


def from_registration(registered: FamilyRegistered) -> Assignment:
    """The assignment a registration makes (no father's trusted person yet)."""
    return Assignment(
        family_id=registered.family_id,
        trusted_person_id=registered.trusted_person_id,
        father_trusted_person_id=None,
        at=registered.registered_at,
    )


def from_reassignment(reassigned: FamilyReassigned) -> Assignment:
    """The assignment a reassignment makes."""
    return Assignment(
        family_id=reassigned.family_id,
        trusted_person_id=reassigned.trusted_person_id,
        father_trusted_person_id=reassigned.father_trusted_person_id,
        at=reassigned.reassigned_at,
    )


def newer(current: Assignment | None, incoming: Assignment) -> Assignment:
    """The winning assignment: the later one; on equal times the larger ids (deterministic)."""
    if current is None or incoming._order() > current._order():
        return incoming
    return current


def assign(case: Case, assignment: Assignment) -> Case:
    """The case held by the assignment's trusted persons, if the assignment is newer."""
    if case.assigned_at is not None:
        held = (case.assigned_at, case.trusted_person_id, case.father_trusted_person_id or "")
        if held >= assignment._order():
            return case
    incoming = {assignment.trusted_person_id, assignment.father_trusted_person_id}
    leaving = [
        h
        for h in (case.trusted_person_id, case.father_trusted_person_id)
        if h is not None and h not in incoming and h not in case.former_holders
    ]
    return replace(
        case,
        trusted_person_id=assignment.trusted_person_id,
        father_trusted_person_id=assignment.father_trusted_person_id,
        assigned_at=assignment.at,
        former_holders=case.former_holders + tuple(leaving),
    )
