"""A trusted person's agenda: the follow-ups she planned, overdue first, then by day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from alamal_cases.domain.cases import Case, CaseStatus, Visit


@dataclass(frozen=True, slots=True)
class AgendaItem:
    """One planned follow-up not yet met by a later contact: ids and dates only."""

    case_id: str
    family_id: str
    visit_id: str
    trusted_person_id: str
    father_trusted_person_id: str | None
    follow_up_on: date
    days_overdue: int
    """Days since the follow-up date passed; 0 when it is today or later."""


def agenda(
    cases: Iterable[Case], visits: Iterable[Visit], today: date, *, days: int
) -> list[AgendaItem]:
    """Pending follow-ups of open cases due up to `days` after today (overdue ones included),
    the oldest date first. A follow-up counts as met once any contact on the case happened on
    or after its date."""
    by_case: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_case[visit.case_id].append(visit)
    until = today + timedelta(days=days)
    items = [
        AgendaItem(
            case_id=case.id,
            family_id=case.family_id,
            visit_id=v.id,
            trusted_person_id=case.trusted_person_id,
            father_trusted_person_id=case.father_trusted_person_id,
            follow_up_on=v.follow_up_on,
            days_overdue=max(0, (today - v.follow_up_on).days),
        )
        for case in cases
        if case.status is CaseStatus.OPEN
        for v in by_case.get(case.id, [])
        if v.follow_up_on is not None
        and v.follow_up_on <= until
        and not any(w.id != v.id and w.occurred_on >= v.follow_up_on for w in by_case[case.id])
    ]
    return sorted(items, key=lambda i: (i.follow_up_on, i.case_id, i.visit_id))
