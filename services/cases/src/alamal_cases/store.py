"""Cases' repository: cases and the family references they hang on, in cases' own store."""

from __future__ import annotations

from datetime import date, datetime

from alamal_cases.domain import Case, CaseStatus, FamilyRef, Visit
from alamal_cases.domain.assignment import Assignment, newer
from alamal_contracts.codes import TopicCode, VisitKind, Wijk
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

CASES = "cases"
FAMILIES = "families"
VISITS = "visits"
ASSIGNMENTS = "assignments"
MAX_SCAN = 10_000
"""How many records one caseload query reads (a wijk's cases or a case's visits)."""


def case_to_doc(case: Case) -> Doc:
    """Serialise a case."""
    return {
        "family_id": case.family_id,
        "wijk": case.wijk.value,
        "trusted_person_id": case.trusted_person_id,
        "status": case.status.value,
        "opened_at": case.opened_at.isoformat(),
        "father_trusted_person_id": case.father_trusted_person_id,
        "assigned_at": _iso(case.assigned_at),
        "closed_at": _iso(case.closed_at),
        "closed_by": case.closed_by,
        "outcome_codes": list(case.outcome_codes),
        "former_holders": list(case.former_holders),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def case_from_record(record: Record) -> Case:
    """Rebuild a case from its document."""
    d = record.data
    return Case(
        id=record.id,
        family_id=d["family_id"],
        wijk=Wijk(d["wijk"]),
        trusted_person_id=d["trusted_person_id"],
        status=CaseStatus(d["status"]),
        opened_at=datetime.fromisoformat(d["opened_at"]),
        father_trusted_person_id=d.get("father_trusted_person_id"),
        assigned_at=_dt(d.get("assigned_at")),
        closed_at=_dt(d.get("closed_at")),
        closed_by=d.get("closed_by"),
        outcome_codes=tuple(d.get("outcome_codes", ())),
        former_holders=tuple(d.get("former_holders", ())),
    )


async def family_known(uow: UnitOfWork, family_id: str) -> bool:
    """Whether cases has already taken this family in."""
    return await uow.get(FAMILIES, family_id) is not None


async def add_case(uow: UnitOfWork, case: Case, ref: FamilyRef) -> None:
    """Store a new case and the family reference; DuplicateError if the family is known."""
    await uow.insert(
        FAMILIES,
        ref.family_id,
        {
            "wijk": ref.wijk.value,
            "trusted_person_id": ref.trusted_person_id,
            "open_case_id": ref.open_case_id,
        },
    )
    await uow.insert(CASES, case.id, case_to_doc(case))


async def cases_of_family(store: Store, family_id: str) -> list[Case]:
    """Every case of one family, oldest first."""
    records = await store.find(CASES, {"family_id": family_id}, order_by="opened_at", limit=1000)
    return [case_from_record(r) for r in records]


async def get_case(store: Store, case_id: str) -> Case | None:
    """One case, or None."""
    record = await store.get(CASES, case_id)
    return None if record is None else case_from_record(record)


async def get_case_in(uow: UnitOfWork, case_id: str) -> Case | None:
    """One case, read inside a unit of work."""
    found = await get_case_versioned(uow, case_id)
    return None if found is None else found[0]


async def get_case_versioned(uow: UnitOfWork, case_id: str) -> tuple[Case, int] | None:
    """One case and its version, read inside a unit of work (for a guarded replace)."""
    record = await uow.get(CASES, case_id)
    return None if record is None else (case_from_record(record), record.version)


async def replace_case(uow: UnitOfWork, case: Case, *, version: int) -> None:
    """Store a case's new state; StaleWriteError if it changed since it was read."""
    await uow.replace(CASES, case.id, case_to_doc(case), expected_version=version)


async def open_case_of_family(uow: UnitOfWork, family_id: str) -> str | None:
    """The id of the family's open case, if cases knows the family and one is open."""
    record = await uow.get(FAMILIES, family_id)
    if record is None:
        return None
    case_id: str | None = record.data["open_case_id"]
    return case_id


async def cases_held_by(store: Store, user_id: str) -> list[Case]:
    """Open cases the user holds, as the trusted person or as the father's trusted person."""
    found: dict[str, Case] = {}
    for field in ("trusted_person_id", "father_trusted_person_id"):
        records = await store.find(CASES, {field: user_id, "status": "open"}, limit=MAX_SCAN)
        found |= {r.id: case_from_record(r) for r in records}
    return list(found.values())


async def cases_in_wijk(store: Store, wijk: Wijk) -> list[Case]:
    """Open cases in one wijk."""
    records = await store.find(CASES, {"wijk": wijk.value, "status": "open"}, limit=MAX_SCAN)
    return [case_from_record(r) for r in records]


async def visits_of_cases(store: Store, cases: list[Case]) -> list[Visit]:
    """Every visit on the given cases (for caseloads and follow-up lists)."""
    return [
        visit_from_record(r)
        for case in cases
        for r in await store.find(VISITS, {"case_id": case.id}, limit=MAX_SCAN)
    ]


async def latest_assignment_in(uow: UnitOfWork, family_id: str) -> Assignment | None:
    """The winning assignment seen so far for a family (also before its case exists)."""
    record = await uow.get(ASSIGNMENTS, family_id)
    if record is None:
        return None
    d = record.data
    return Assignment(
        family_id=family_id,
        trusted_person_id=d["trusted_person_id"],
        father_trusted_person_id=d["father_trusted_person_id"],
        at=datetime.fromisoformat(d["at"]),
    )


async def merge_assignment(uow: UnitOfWork, incoming: Assignment) -> Assignment:
    """Keep the winning assignment for the family; return it."""
    record = await uow.get(ASSIGNMENTS, incoming.family_id)
    current = await latest_assignment_in(uow, incoming.family_id)
    winner = newer(current, incoming)
    data = {
        "trusted_person_id": winner.trusted_person_id,
        "father_trusted_person_id": winner.father_trusted_person_id,
        "at": winner.at.isoformat(),
    }
    if record is None:
        await uow.insert(ASSIGNMENTS, incoming.family_id, data)
    elif winner != current:
        await uow.replace(ASSIGNMENTS, incoming.family_id, data, expected_version=record.version)
    return winner


def visit_to_doc(visit: Visit) -> Doc:
    """Serialise a visit."""
    return {
        "case_id": visit.case_id,
        "family_id": visit.family_id,
        "wijk": visit.wijk.value,
        "trusted_person_id": visit.trusted_person_id,
        "kind": visit.kind.value,
        "occurred_on": visit.occurred_on.isoformat(),
        "duration_minutes": visit.duration_minutes,
        "topic_codes": [t.value for t in visit.topic_codes],
        "strengths_observed": list(visit.strengths_observed),
        "private_note": visit.private_note,
        "follow_up_on": None if visit.follow_up_on is None else visit.follow_up_on.isoformat(),
        "logged_at": visit.logged_at.isoformat(),
        # Newest first by day, then by when it was logged.
        "sort_key": f"{visit.occurred_on.isoformat()}|{visit.logged_at.isoformat()}",
    }


def visit_from_record(record: Record) -> Visit:
    """Rebuild a visit from its document."""
    d = record.data
    return Visit(
        id=record.id,
        case_id=d["case_id"],
        family_id=d["family_id"],
        wijk=Wijk(d["wijk"]),
        trusted_person_id=d["trusted_person_id"],
        kind=VisitKind(d["kind"]),
        occurred_on=date.fromisoformat(d["occurred_on"]),
        duration_minutes=d["duration_minutes"],
        topic_codes=tuple(TopicCode(t) for t in d["topic_codes"]),
        strengths_observed=tuple(d["strengths_observed"]),
        private_note=d["private_note"],
        follow_up_on=None if d["follow_up_on"] is None else date.fromisoformat(d["follow_up_on"]),
        logged_at=datetime.fromisoformat(d["logged_at"]),
    )


async def add_visit(uow: UnitOfWork, visit: Visit) -> None:
    """Store a new visit."""
    await uow.insert(VISITS, visit.id, visit_to_doc(visit))


async def get_visit(store: Store, visit_id: str) -> Visit | None:
    """One visit, or None."""
    record = await store.get(VISITS, visit_id)
    return None if record is None else visit_from_record(record)


async def prepare(store: Store) -> None:
    """Indexes cases' queries need."""
    await store.ensure_index(CASES, ["family_id", "opened_at"])  # a family's cases, oldest first
    await store.ensure_index(CASES, ["trusted_person_id", "status"])
    await store.ensure_index(CASES, ["father_trusted_person_id", "status"])
    await store.ensure_index(CASES, ["wijk", "status"])
    await store.ensure_index(VISITS, ["case_id", "sort_key"])
