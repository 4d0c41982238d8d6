"""Cases and visits: a case opened for a registered family, and the contacts logged on it."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from alamal_contracts.codes import CODE_PATTERN, TopicCode, VisitKind, Wijk
from alamal_contracts.events import CaseClosed, CaseOpened, FamilyRegistered, VisitLogged
from alamal_contracts.events.cases import MAX_VISIT_MINUTES

MIN_VISIT_MINUTES = 1


class CaseStatus(StrEnum):
    """Where a case stands."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Case:
    """Casework with one family, led by one trusted person."""

    id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    status: CaseStatus
    opened_at: datetime
    father_trusted_person_id: str | None = None
    """In Tussen In: the male trusted person who supports the father alongside."""
    assigned_at: datetime | None = None
    """When intake last assigned the trusted persons (a newer assignment wins)."""
    closed_at: datetime | None = None
    closed_by: str | None = None
    outcome_codes: tuple[str, ...] = ()
    former_holders: tuple[str, ...] = ()
    """Trusted persons who held the case before a reassignment (to recognise their offline
    visits that arrive after it: held for a coordinator, not refused as strangers')."""

    def held_by(self, user_id: str) -> bool:
        """Whether the user is the case's trusted person or, in Tussen In, the father's."""
        return user_id in (self.trusted_person_id, self.father_trusted_person_id)


@dataclass(frozen=True, slots=True)
class FamilyRef:
    """What cases knows of a family: ids and codes from intake's events, never personal data."""

    family_id: str
    wijk: Wijk
    trusted_person_id: str
    open_case_id: str | None


def open_case(
    registered: FamilyRegistered, *, case_id: str, now: datetime
) -> tuple[Case, FamilyRef, CaseOpened]:
    """Open the first case for a newly registered family, with the same trusted person."""
    case = Case(
        id=case_id,
        family_id=registered.family_id,
        wijk=registered.wijk,
        trusted_person_id=registered.trusted_person_id,
        status=CaseStatus.OPEN,
        opened_at=now,
        assigned_at=registered.registered_at,
    )
    ref = FamilyRef(
        family_id=registered.family_id,
        wijk=registered.wijk,
        trusted_person_id=registered.trusted_person_id,
        open_case_id=case.id,
    )
    event = CaseOpened(
        case_id=case.id,
        family_id=case.family_id,
        trusted_person_id=case.trusted_person_id,
        wijk=case.wijk,
        opened_at=now,
    )
    return case, ref, event


# --- Closure --------------------------------------------------------------------------------

MAX_OUTCOME_CODES = 20


class DomainError(Exception):
    """A rule of the domain refused a command."""


class CaseNotOpenError(DomainError):
    """The case is closed: nothing more can be logged on it."""


class CaseRejectedError(DomainError):
    """One field of a case command breaks a rule; `field` names it (never quoting values)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def close_case(
    case: Case, outcome_codes: tuple[str, ...], *, by: str, now: datetime
) -> tuple[Case, CaseClosed]:
    """Close an open case with 1 to 20 distinct outcome codes (codes only, never free text)."""
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpenError("the case is already closed")
    if not 1 <= len(outcome_codes) <= MAX_OUTCOME_CODES:
        raise CaseRejectedError("outcome_codes", "between 1 and 20 outcome codes")
    if len(set(outcome_codes)) != len(outcome_codes):
        raise CaseRejectedError("outcome_codes", "each outcome code at most once")
    if not all(len(c) <= 64 and re.fullmatch(CODE_PATTERN, c) for c in outcome_codes):
        raise CaseRejectedError("outcome_codes", "codes are lowercase words joined by - or _")
    closed = replace(
        case, status=CaseStatus.CLOSED, closed_at=now, closed_by=by, outcome_codes=outcome_codes
    )
    event = CaseClosed(
        case_id=case.id, family_id=case.family_id, outcome_codes=outcome_codes, closed_at=now
    )
    return closed, event


# --- Visits ---------------------------------------------------------------------------------

HOME_ZONE = ZoneInfo("Europe/Amsterdam")
MAX_STRENGTHS = 10
MAX_STRENGTH_CHARS = 200
MAX_NOTE_CHARS = 4000


class VisitRejectedError(DomainError):
    """One field of a visit breaks a rule; `field` names it (the message never quotes values)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class LogVisit:
    """Log a contact with the family of a case."""

    kind: VisitKind
    occurred_on: date
    duration_minutes: int
    topic_codes: tuple[TopicCode, ...] = ()
    strengths_observed: tuple[str, ...] = ()
    private_note: str | None = None
    follow_up_on: date | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """A logged contact; the private note and strengths stay in cases' store, never in events."""

    id: str
    case_id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    """Who made the contact (the case's trusted person or a coordinator)."""
    kind: VisitKind
    occurred_on: date
    duration_minutes: int
    topic_codes: tuple[TopicCode, ...]
    strengths_observed: tuple[str, ...]
    private_note: str | None
    follow_up_on: date | None
    logged_at: datetime


@dataclass(frozen=True, slots=True)
class OverdueFollowUp:
    """A follow-up date that passed with no contact since."""

    case_id: str
    family_id: str
    visit_id: str
    follow_up_on: date
    days_overdue: int


def local_today(now: datetime) -> date:
    """The calendar day in Utrecht at `now` (a visit late in the evening is not 'tomorrow')."""
    return now.astimezone(HOME_ZONE).date()


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _check_shape(command: LogVisit) -> None:
    if not MIN_VISIT_MINUTES <= command.duration_minutes <= MAX_VISIT_MINUTES:
        raise VisitRejectedError("duration_minutes", "must be between 1 and 720 minutes")
    if len(set(command.topic_codes)) != len(command.topic_codes):
        raise VisitRejectedError("topic_codes", "each topic code at most once")
    strengths = command.strengths_observed
    if len(strengths) > MAX_STRENGTHS or any(
        not s.strip() or len(s) > MAX_STRENGTH_CHARS for s in strengths
    ):
        raise VisitRejectedError("strengths_observed", "at most 10 short, non-empty strengths")
    if command.private_note is not None and len(command.private_note) > MAX_NOTE_CHARS:
        raise VisitRejectedError("private_note", "at most 4000 characters")


def check_visit(case: Case, command: LogVisit, *, now: datetime, open_only: bool = True) -> None:
    """Refuse a visit the case cannot take: closed (if `open_only`), or a field breaking a rule."""
    if open_only and case.status is not CaseStatus.OPEN:
        raise CaseNotOpenError("the case is closed")
    _check_shape(command)
    today = local_today(now)
    if command.occurred_on > today:
        raise VisitRejectedError("occurred_on", "must not be in the future")
    if command.occurred_on < _year_before(local_today(case.opened_at)):
        raise VisitRejectedError("occurred_on", "must not be over a year before the case opened")
    if command.follow_up_on is not None and command.follow_up_on < command.occurred_on:
        raise VisitRejectedError("follow_up_on", "must not be before the visit")


def log_visit(
    case: Case, command: LogVisit, *, visit_id: str, by: str, now: datetime
) -> tuple[Visit, VisitLogged]:
    """Log a contact on an open case; the event carries ids, codes and dates only."""
    check_visit(case, command, now=now)
    visit = Visit(
        id=visit_id,
        case_id=case.id,
        family_id=case.family_id,
        wijk=case.wijk,
        trusted_person_id=by,
        kind=command.kind,
        occurred_on=command.occurred_on,
        duration_minutes=command.duration_minutes,
        topic_codes=command.topic_codes,
        strengths_observed=command.strengths_observed,
        private_note=command.private_note,
        follow_up_on=command.follow_up_on,
        logged_at=now,
    )
    return visit, visit_logged(visit)


def visit_logged(visit: Visit) -> VisitLogged:
    """The thin event of a logged visit: ids, codes and dates only."""
    return VisitLogged(
        visit_id=visit.id,
        case_id=visit.case_id,
        family_id=visit.family_id,
        kind=visit.kind,
        occurred_on=visit.occurred_on,
        duration_minutes=visit.duration_minutes,
        topic_codes=visit.topic_codes,
        trusted_person_id=visit.trusted_person_id,
    )


def overdue_follow_ups(visits: Iterable[Visit], today: date) -> list[OverdueFollowUp]:
    """Follow-ups due before `today` with no other visit on the case on or after that day."""
    by_case: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_case[visit.case_id].append(visit)
    overdue = [
        OverdueFollowUp(
            case_id=v.case_id,
            family_id=v.family_id,
            visit_id=v.id,
            follow_up_on=v.follow_up_on,
            days_overdue=(today - v.follow_up_on).days,
        )
        for same_case in by_case.values()
        for v in same_case
        if v.follow_up_on is not None
        and v.follow_up_on < today
        and not any(w.id != v.id and w.occurred_on >= v.follow_up_on for w in same_case)
    ]
    return sorted(overdue, key=lambda o: (-o.days_overdue, o.case_id, o.visit_id))
