"""The read model a report is computed from: facts joined and filtered at query time (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from alamal_reporting.domain.facts import FactDoc, parse_stamp


@dataclass(frozen=True, slots=True)
class Period:
    """A closed range of days, `start` to `end` inclusive."""

    start: date
    end: date

    def holds(self, day: date) -> bool:
        """Whether `day` lies in the period."""
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Family:
    """A registered family whose reporting consent is active now."""

    id: str
    wijk: str
    projects: tuple[str, ...]
    intake_source: str
    household: str
    registered_on: date


@dataclass(frozen=True, slots=True)
class Case:
    """A case of a counted family."""

    id: str
    family_id: str
    opened_at: datetime | None
    closed_at: datetime | None
    outcome_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Visit:
    """A contact with a counted family."""

    id: str
    family_id: str
    case_id: str
    kind: str
    occurred_on: date
    topics: tuple[str, ...]
    trusted_person_id: str


@dataclass(frozen=True, slots=True)
class Referral:
    """An escalated referral of a counted family, with what the partner answered."""

    id: str
    family_id: str
    partner_kind: str
    urgency: str
    legal_basis: str
    escalated_at: datetime
    status: str
    answered_at: datetime | None
    accepted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal of a counted family's plan, at its highest revision."""

    id: str
    family_id: str
    area: str
    status: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReadModel:
    """Everything the reports count, already limited to consenting families in scope."""

    families: Mapping[str, Family]
    cases: Mapping[str, Case]
    visits: tuple[Visit, ...]
    referrals: tuple[Referral, ...]
    goals: tuple[Goal, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored facts by entity id, per collection."""

    families: Mapping[str, FactDoc]
    cases: Mapping[str, FactDoc]
    visits: Mapping[str, FactDoc]
    referrals: Mapping[str, FactDoc]
    goals: Mapping[str, FactDoc]


def household_band(children: int, parents: int) -> str:
    """Household composition band from member counts: parents and number of children."""
    parent = {0: "no-parent", 1: "one-parent"}.get(parents, "two-parent")
    kids = "children-0" if children == 0 else "children-1-2" if children <= 2 else "children-3+"
    return f"{parent}/{kids}"


def _family(family_id: str, doc: FactDoc) -> Family | None:
    reg, consent = doc.get("reg"), doc.get("consent")
    if reg is None or consent is None or not consent["granted"]:
        return None
    return Family(
        id=family_id,
        wijk=reg["wijk"],
        projects=tuple(reg["projects"]),
        intake_source=reg["intake_source"],
        household=household_band(reg["children"], reg["parents"]),
        registered_on=parse_stamp(reg["registered_at"]).date(),
    )


def read_model(snapshot: Snapshot, *, wijken: frozenset[str] | None) -> ReadModel:
    """Join the facts; keep only registered families with reporting consent now, in scope."""
    families: dict[str, Family] = {}
    for family_id, doc in snapshot.families.items():
        family = _family(family_id, doc)
        if family is not None and (wijken is None or family.wijk in wijken):
            families[family_id] = family
    cases: dict[str, Case] = {}
    for case_id, doc in snapshot.cases.items():
        opened, closed = doc.get("opened"), doc.get("closed")
        case_family = (opened or closed or {}).get("family_id")
        if isinstance(case_family, str) and case_family in families:
            cases[case_id] = Case(
                id=case_id,
                family_id=case_family,
                opened_at=None if opened is None else parse_stamp(opened["opened_at"]),
                closed_at=None if closed is None else parse_stamp(closed["closed_at"]),
                outcome_codes=() if closed is None else tuple(closed["outcome_codes"]),
            )
    visits = tuple(
        Visit(
            id=visit_id,
            family_id=v["family_id"],
            case_id=v["case_id"],
            kind=v["kind"],
            occurred_on=date.fromisoformat(v["occurred_on"]),
            topics=tuple(v["topics"]),
            trusted_person_id=v["trusted_person_id"],
        )
        for visit_id, doc in snapshot.visits.items()
        if (v := doc.get("visit")) is not None and v["family_id"] in families
    )
    return ReadModel(
        families=families,
        cases=cases,
        visits=visits,
        referrals=_referrals(snapshot, families),
        goals=tuple(
            Goal(
                id=goal_id,
                family_id=g["family_id"],
                area=g["area"],
                status=g["status"],
                updated_at=parse_stamp(g["updated_at"]),
            )
            for goal_id, doc in snapshot.goals.items()
            if (g := doc.get("goal")) is not None and g["family_id"] in families
        ),
    )


def _referrals(snapshot: Snapshot, families: Mapping[str, Family]) -> tuple[Referral, ...]:
    found: list[Referral] = []
    for referral_id, doc in snapshot.referrals.items():
        # An update without its escalation waits (kept in the store) until the escalation comes.
        escalated = doc.get("escalated")
        if escalated is None or escalated["family_id"] not in families:
            continue
        status, answered, accepted = doc.get("status"), doc.get("answered"), doc.get("accepted")
        found.append(
            Referral(
                id=referral_id,
                family_id=escalated["family_id"],
                partner_kind=escalated["partner_kind"],
                urgency=escalated["urgency"],
                legal_basis=escalated["legal_basis"],
                escalated_at=parse_stamp(escalated["escalated_at"]),
                status="open" if status is None else status["status"],
                answered_at=None if answered is None else parse_stamp(answered["at"]),
                accepted_at=None if accepted is None else parse_stamp(accepted["at"]),
            )
        )
    return tuple(found)
