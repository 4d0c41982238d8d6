"""Intake's repository: families as documents in intake's own store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alamal_contracts.codes import ConsentPurpose, IntakeSource, MemberRole, Project, Wijk
from alamal_intake.domain import Consent, ConsentBasis, Family, Member
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

FAMILIES = "families"


def family_to_doc(family: Family) -> Doc:
    """Serialise a family for the store."""
    return {
        "wijk": family.wijk.value,
        "projects": [p.value for p in family.projects],
        "languages": list(family.languages),
        "intake_source": family.intake_source.value,
        "trusted_person_id": family.trusted_person_id,
        "registered_by": family.registered_by,
        "registered_at": family.registered_at.isoformat(),
        "members": [
            {
                "role": m.role.value,
                "birth_year": m.birth_year,
                "first_name": m.first_name,
                "surname": m.surname,
                "languages": list(m.languages),
            }
            for m in family.members
        ],
        "consents": [
            {
                "purpose": c.purpose.value,
                "granted": c.granted,
                "recorded_by": c.recorded_by,
                "recorded_at": c.recorded_at.isoformat(),
                "text_version": c.text_version,
                "basis": None if c.basis is None else c.basis.value,
            }
            for c in family.consents
        ],
    }


def family_from_record(record: Record) -> Family:
    """Rebuild a family from its stored document."""
    d: dict[str, Any] = record.data
    return Family(
        id=record.id,
        wijk=Wijk(d["wijk"]),
        projects=tuple(Project(p) for p in d["projects"]),
        languages=tuple(d["languages"]),
        intake_source=IntakeSource(d["intake_source"]),
        trusted_person_id=d["trusted_person_id"],
        registered_by=d["registered_by"],
        registered_at=datetime.fromisoformat(d["registered_at"]),
        members=tuple(
            Member(
                role=MemberRole(m["role"]),
                birth_year=m["birth_year"],
                first_name=m["first_name"],
                surname=m["surname"],
                languages=tuple(m["languages"]),
            )
            for m in d["members"]
        ),
        consents=tuple(
            Consent(
                purpose=ConsentPurpose(c["purpose"]),
                granted=c["granted"],
                recorded_by=c["recorded_by"],
                recorded_at=datetime.fromisoformat(c["recorded_at"]),
                text_version=c["text_version"],
                basis=None if c.get("basis") is None else ConsentBasis(c["basis"]),
            )
            for c in d["consents"]
        ),
    )


async def add_family(uow: UnitOfWork, family: Family) -> None:
    """Insert a new family inside a unit of work."""
    await uow.insert(FAMILIES, family.id, family_to_doc(family))


async def get_family(store: Store, family_id: str) -> Family | None:
    """Read one family, or None."""
    record = await store.get(FAMILIES, family_id)
    return None if record is None else family_from_record(record)


@dataclass(frozen=True, slots=True)
class Versioned:
    """A family with the stored version it was read at (for optimistic concurrency)."""

    family: Family
    version: int


async def load_family(uow: UnitOfWork, family_id: str) -> Versioned | None:
    """Read one family inside a unit of work, with its version, or None."""
    record = await uow.get(FAMILIES, family_id)
    return None if record is None else Versioned(family_from_record(record), record.version)


async def replace_family(uow: UnitOfWork, family: Family, *, expected_version: int) -> None:
    """Store a changed family; StaleWriteError if someone else changed it since it was read."""
    await uow.replace(FAMILIES, family.id, family_to_doc(family), expected_version=expected_version)


async def prepare(store: Store) -> None:
    """Indexes intake's queries need."""
    await store.ensure_index(FAMILIES, ["wijk"])
    await store.ensure_index(FAMILIES, ["trusted_person_id"])
