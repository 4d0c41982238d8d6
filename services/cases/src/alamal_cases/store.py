"""Cases' repository: cases and the family references they hang on, in cases' own store."""

from __future__ import annotations

from datetime import date, datetime

from alamal_cases.domain import Case, CaseStatus, FamilyRef, Visit
from alamal_contracts.codes import TopicCode, VisitKind, Wijk
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

CASES = "cases"
FAMILIES = "families"
VISITS = "visits"
MAX_SCAN = 10_000
"""How many visits one follow-up query reads (a caseload or a wijk; revisit at that size)."""


def case_to_doc(case: Case) -> Doc:
    """Serialise a case."""
    return {
        "family_id": case.family_id,
        "wijk": case.wijk.value,
        "trusted_person_id": case.trusted_person_id,
        "status": case.status.value,
        "opened_at": case.opened_at.isoformat(),
    }


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
    record = await uow.get(CASES, case_id)
    return None if record is None else case_from_record(record)


def visit_to_doc(visit: Visit, *, case_holder_id: str) -> Doc:
    """Serialise a visit; `case_holder_id` (the case's trusted person) scopes follow-up lists."""
    return {
        "case_id": visit.case_id,
        "family_id": visit.family_id,
        "wijk": visit.wijk.value,
        "trusted_person_id": visit.trusted_person_id,
        "case_holder_id": case_holder_id,
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


async def add_visit(uow: UnitOfWork, visit: Visit, *, case_holder_id: str) -> None:
    """Store a new visit."""
    await uow.insert(VISITS, visit.id, visit_to_doc(visit, case_holder_id=case_holder_id))


async def get_visit(store: Store, visit_id: str) -> Visit | None:
    """One visit, or None."""
    record = await store.get(VISITS, visit_id)
    return None if record is None else visit_from_record(record)


async def visits_of_case(store: Store, case_id: str, *, limit: int) -> list[Visit]:
    """A case's visits, newest first."""
    records = await store.find(
        VISITS, {"case_id": case_id}, order_by="sort_key", descending=True, limit=limit
    )
    return [visit_from_record(r) for r in records]


async def follow_up_candidates_of_holder(store: Store, trusted_person_id: str) -> list[Visit]:
    """Every visit on the cases one trusted person holds (follow-ups and what satisfies them)."""
    records = await store.find(VISITS, {"case_holder_id": trusted_person_id}, limit=MAX_SCAN)
    return [visit_from_record(r) for r in records]


async def follow_up_candidates_in_wijk(store: Store, wijk: Wijk) -> list[Visit]:
    """Every visit on the cases of one wijk."""
    records = await store.find(VISITS, {"wijk": wijk.value}, limit=MAX_SCAN)
    return [visit_from_record(r) for r in records]


async def prepare(store: Store) -> None:
    """Indexes cases' queries need."""
    await store.ensure_index(CASES, ["family_id"])
    await store.ensure_index(CASES, ["trusted_person_id"])
    await store.ensure_index(CASES, ["wijk"])
    await store.ensure_index(VISITS, ["case_id", "sort_key"])
    await store.ensure_index(VISITS, ["case_holder_id"])
    await store.ensure_index(VISITS, ["wijk"])
