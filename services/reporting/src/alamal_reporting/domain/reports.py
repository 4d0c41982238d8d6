"""The report catalogue: what each report and breakdown counts over a period (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Final

from alamal_reporting.domain.model import Case, Period, ReadModel
from alamal_reporting.domain.tables import Table, Tally

type Builder = Callable[[ReadModel, Period], Table]

_DAY = 86400.0


def _reached(model: ReadModel, period: Period) -> set[str]:
    """Families registered in the period, with a case open during it, or a contact in it."""
    reached = {f.id for f in model.families.values() if period.holds(f.registered_on)}
    reached |= {c.family_id for c in model.cases.values() if _open_during(c, period)}
    reached |= {v.family_id for v in model.visits if period.holds(v.occurred_on)}
    return reached


def _open_during(case: Case, period: Period) -> bool:
    if case.opened_at is None or case.opened_at.date() > period.end:
        return False
    return case.closed_at is None or case.closed_at.date() >= period.start


def _families(breakdown: str, labels: Callable[[str, ReadModel], list[str]]) -> Builder:
    def build(model: ReadModel, period: Period) -> Table:
        tally = Tally()
        for family_id in _reached(model, period):
            tally.add(labels(family_id, model), family_id, family_id)
        return tally.families_table("families", breakdown)

    return build


def _contacts(breakdown: str) -> Builder:
    def build(model: ReadModel, period: Period) -> Table:
        tally = Tally()
        for visit in model.visits:
            if not period.holds(visit.occurred_on):
                continue
            labels = {
                "kind": [visit.kind],
                "topic": list(visit.topics) or ["none"],
                "month": [visit.occurred_on.strftime("%Y-%m")],
                "trusted-person": [visit.trusted_person_id],
            }[breakdown]
            tally.add(labels, visit.family_id, visit.id)
        return tally.items_table("contacts", breakdown, "contacts")

    return build


def _referrals(breakdown: str) -> Builder:
    def build(model: ReadModel, period: Period) -> Table:
        tally = Tally()
        for ref in model.referrals:
            if not period.holds(ref.escalated_at.date()):
                continue
            label = {
                "partner-kind": ref.partner_kind,
                "urgency": ref.urgency,
                "legal-basis": ref.legal_basis,
                "status": ref.status,
            }[breakdown]
            tally.add([label], ref.family_id, ref.id)
            if ref.accepted_at is not None:
                days = (ref.accepted_at - ref.escalated_at).total_seconds() / _DAY
                tally.add_days(label, ref.family_id, max(days, 0.0))
        return tally.items_table("referrals", breakdown, "referrals", median=True)

    return build


def _goals(breakdown: str) -> Builder:
    def build(model: ReadModel, period: Period) -> Table:
        tally = Tally()
        for goal in model.goals:
            if not period.holds(goal.updated_at.date()):
                continue
            if breakdown == "goal-status":
                tally.add([goal.status], goal.family_id, goal.id)
            elif goal.status == "reached":
                tally.add([goal.area], goal.family_id, goal.id)
        return tally.items_table("outcomes", breakdown, "goals")

    return build


def _closures(model: ReadModel, period: Period) -> Table:
    tally = Tally()
    for case in model.cases.values():
        if case.closed_at is not None and period.holds(case.closed_at.date()):
            tally.add(list(case.outcome_codes) or ["none"], case.family_id, case.id)
    return tally.items_table("outcomes", "closure-outcome", "cases")


def band(days: float | None, bounds: tuple[tuple[float, str], ...], missing: str) -> str:
    """The label of the first band whose upper bound (days) holds `days`."""
    if days is None:
        return missing
    return next((label for upper, label in bounds if days <= upper), bounds[-1][1])


_FIRST_CONTACT: Final = ((7, "0-7-days"), (14, "8-14-days"), (30, "15-30-days"), (1e9, "31+-days"))
_RESPONSE: Final = ((2, "0-2-days"), (7, "3-7-days"), (30, "8-30-days"), (1e9, "31+-days"))


def _days(start: datetime, end: datetime | date | None) -> float | None:
    if end is None:
        return None
    if isinstance(end, datetime):
        return max((end - start).total_seconds() / _DAY, 0.0)
    return float(max((end - start.date()).days, 0))


def _first_contact(model: ReadModel, period: Period) -> Table:
    first: dict[str, date] = {}
    for visit in model.visits:
        if visit.case_id not in first or visit.occurred_on < first[visit.case_id]:
            first[visit.case_id] = visit.occurred_on
    tally = Tally()
    for case in model.cases.values():
        if case.opened_at is None or not period.holds(case.opened_at.date()):
            continue
        days = _days(case.opened_at, first.get(case.id))
        tally.add([band(days, _FIRST_CONTACT, "no-contact-yet")], case.family_id, case.id)
    return tally.items_table("follow-up", "first-contact", "cases")


def _partner_response(model: ReadModel, period: Period) -> Table:
    tally = Tally()
    for ref in model.referrals:
        if period.holds(ref.escalated_at.date()):
            days = _days(ref.escalated_at, ref.answered_at)
            tally.add([band(days, _RESPONSE, "no-answer-yet")], ref.family_id, ref.id)
    return tally.items_table("follow-up", "partner-response", "referrals")


def _one(labeller: Callable[[str, ReadModel], str]) -> Callable[[str, ReadModel], list[str]]:
    return lambda family_id, model: [labeller(family_id, model)]


REPORTS: Final[Mapping[str, Mapping[str, Builder]]] = MappingProxyType(
    {
        "families": {
            "wijk": _families("wijk", _one(lambda f, m: m.families[f].wijk)),
            "project": _families("project", lambda f, m: list(m.families[f].projects) or ["none"]),
            "intake-source": _families(
                "intake-source", _one(lambda f, m: m.families[f].intake_source)
            ),
            "household": _families("household", _one(lambda f, m: m.families[f].household)),
        },
        "contacts": {b: _contacts(b) for b in ("kind", "topic", "month", "trusted-person")},
        "referrals": {
            b: _referrals(b) for b in ("partner-kind", "urgency", "legal-basis", "status")
        },
        "outcomes": {
            "goal-status": _goals("goal-status"),
            "goals-reached": _goals("goals-reached"),
            "closure-outcome": _closures,
        },
        "follow-up": {"first-contact": _first_contact, "partner-response": _partner_response},
    }
)
"""Builders by report and breakdown."""

STAFF_BREAKDOWNS: Final = frozenset({("contacts", "trusted-person")})
"""Breakdowns that name staff members (by id): coordinators only, never funders."""


def build(model: ReadModel, report: str, breakdown: str, period: Period) -> Table:
    """Compute one suppressed table; the caller has checked report and breakdown."""
    return REPORTS[report][breakdown](model, period)
