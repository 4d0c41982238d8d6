"""Caseloads: a trusted person's open cases, or a wijk's, with the work due first."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from alamal_cases.domain.cases import Case, CaseStatus, Visit, overdue_follow_ups
from alamal_contracts.codes import Wijk


@dataclass(frozen=True, slots=True)
class CaseloadEntry:
    """One open case on a caseload: ids, dates and counts only."""

    case_id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    father_trusted_person_id: str | None
    opened_at: datetime
    visits: int
    last_contact_on: date | None
    next_follow_up_on: date | None
    days_overdue: int
    """Days since the oldest follow-up that passed without contact; 0 when none is overdue."""


@dataclass(frozen=True, slots=True)
class HolderLoad:
    """How many open cases one trusted person holds in a wijk, and how many are overdue."""

    trusted_person_id: str
    open_cases: int
    overdue_cases: int


def _pending(visits: list[Visit]) -> list[date]:
    """Follow-up dates not yet met by a later contact on the case."""
    return [
        v.follow_up_on
        for v in visits
        if v.follow_up_on is not None
        and not any(w.id != v.id and w.occurred_on >= v.follow_up_on for w in visits)
    ]


def caseload(cases: Iterable[Case], visits: Iterable[Visit], today: date) -> list[CaseloadEntry]:
    """The open cases with their contact dates, overdue first (most overdue on top), then by
    the next follow-up date, then the oldest case."""
    by_case: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_case[visit.case_id].append(visit)
    overdue: dict[str, int] = {}
    for item in overdue_follow_ups((v for vs in by_case.values() for v in vs), today):
        overdue[item.case_id] = max(overdue.get(item.case_id, 0), item.days_overdue)
    entries = []
    for case in cases:
        if case.status is not CaseStatus.OPEN:
            continue
        own = by_case.get(case.id, [])
        upcoming = [d for d in _pending(own) if d >= today]
        entries.append(
            CaseloadEntry(
                case_id=case.id,
                family_id=case.family_id,
                wijk=case.wijk,
                trusted_person_id=case.trusted_person_id,
                father_trusted_person_id=case.father_trusted_person_id,
                opened_at=case.opened_at,
                visits=len(own),
                last_contact_on=max((v.occurred_on for v in own), default=None),
                next_follow_up_on=min(upcoming, default=None),
                days_overdue=overdue.get(case.id, 0),
            )
        )
    return sorted(
        entries,
        key=lambda e: (
            -e.days_overdue,
            e.next_follow_up_on is None,
            e.next_follow_up_on or today,
            e.opened_at,
            e.case_id,
        ),
    )


def loads(entries: Iterable[CaseloadEntry]) -> list[HolderLoad]:
    """Open and overdue cases per trusted person (the father's trusted person counts too)."""
    open_cases: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    for entry in entries:
        holders = {entry.trusted_person_id}
        if entry.father_trusted_person_id is not None:
            holders.add(entry.father_trusted_person_id)
        for holder in holders:
            open_cases[holder] += 1
            overdue[holder] += entry.days_overdue > 0
    return [
        HolderLoad(trusted_person_id=h, open_cases=n, overdue_cases=overdue[h])
        for h, n in sorted(open_cases.items(), key=lambda item: (-item[1], item[0]))
    ]
