"""Cases' repository: cases and the family references they hang on, in cases' own store."""

from __future__ import annotations

from datetime import datetime

from alamal_cases.domain import Case, CaseStatus, FamilyRef
from alamal_contracts.codes import Wijk
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

CASES = "cases"
FAMILIES = "families"


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


async def prepare(store: Store) -> None:
    """Indexes cases' queries need."""
    await store.ensure_index(CASES, ["family_id"])
    await store.ensure_index(CASES, ["trusted_person_id"])
    await store.ensure_index(CASES, ["wijk"])
