"""Intake's repository: families as documents in intake's own store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alamal_contracts.codes import ConsentPurpose, IntakeSource, MemberRole, Project, Wijk
from alamal_intake.domain import Address, Assignment, Consent, ConsentBasis, Family, Member
from alamal_runtime.sealing import (
    BlindIndexSpec,
    FamilyIsId,
    KeyDestroyedError,
    SealedCollection,
    SealedStore,
    SealSchema,
)
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

FAMILIES = "families"
NAME_INDEX = "name_index"


def member_names(doc: Doc) -> Iterator[str]:
    """Every member's first name and surname in a family document (what name search finds)."""
    for member in doc.get("members") or ():
        yield member["first_name"]
        if member.get("surname"):
            yield member["surname"]


SEALED: SealSchema = {
    FAMILIES: SealedCollection(
        fields=("members", "address", "phone", "notes"),
        family=FamilyIsId(),
        index=BlindIndexSpec(field=NAME_INDEX, texts=member_names),
    )
}
"""Intake's personal data, sealed at rest with the family's key; names searchable blindly."""


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
        "address": None if family.address is None else _address_to_doc(family.address),
        "phone": family.phone,
        "notes": family.notes,
        "father_trusted_person_id": family.father_trusted_person_id,
        "assignments": [
            {
                "trusted_person_id": a.trusted_person_id,
                "father_trusted_person_id": a.father_trusted_person_id,
                "previous_trusted_person_id": a.previous_trusted_person_id,
                "previous_father_trusted_person_id": a.previous_father_trusted_person_id,
                "assigned_by": a.assigned_by,
                "assigned_at": a.assigned_at.isoformat(),
            }
            for a in family.assignments
        ],
    }


def _address_to_doc(address: Address) -> Doc:
    return {
        "street": address.street,
        "house_number": address.house_number,
        "postcode": address.postcode,
        "city": address.city,
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
        # Families stored before these fields existed lack them: .get keeps them readable.
        address=None if d.get("address") is None else Address(**d["address"]),
        phone=d.get("phone"),
        notes=d.get("notes"),
        father_trusted_person_id=d.get("father_trusted_person_id"),
        assignments=tuple(
            Assignment(
                trusted_person_id=a["trusted_person_id"],
                father_trusted_person_id=a["father_trusted_person_id"],
                previous_trusted_person_id=a["previous_trusted_person_id"],
                previous_father_trusted_person_id=a["previous_father_trusted_person_id"],
                assigned_by=a["assigned_by"],
                assigned_at=datetime.fromisoformat(a["assigned_at"]),
            )
            for a in d.get("assignments", [])
        ),
    )


async def add_family(uow: UnitOfWork, family: Family) -> None:
    """Insert a new family inside a unit of work."""
    await uow.insert(FAMILIES, family.id, family_to_doc(family))


async def get_family(store: Store, family_id: str) -> Family | None:
    """Read one family, or None."""
    record = await store.get(FAMILIES, family_id)
    return None if record is None else family_from_record(record)


SCAN_LIMIT = 5000
"""Most families one scope query reads; search compares index tokens over at most this many."""


async def _scope(store: Store, where: dict[str, str]) -> list[Record]:
    return await store.find(FAMILIES, where, order_by="registered_at", limit=SCAN_LIMIT)


async def search_candidates(
    store: Store,
    queries: list[dict[str, str]],
    *,
    keep: Callable[[Doc], bool],
    name: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Family]:
    """Families of the scope `queries` cover that may hold `name`, in (registered_at, id) order.

    Only the keyed blind index is compared (no name is read to search); only the families that
    pass it are opened. The caller still checks each name (the index allows false positives).
    Without a name, only the first `limit + 1` families after `after` are opened.
    """
    if not isinstance(store, SealedStore):  # only in benchmarks measuring what sealing costs
        plain = {r.id: r for where in queries for r in await _scope(store, where)}
        families = sorted(
            (family_from_record(r) for r in plain.values() if keep(r.data)),
            key=lambda f: (f.registered_at, f.id),
        )
        return [f for f in families if after is None or (f.registered_at, f.id) > after]
    raw: dict[str, Record] = {}
    for where in queries:
        for record in await store.find_sealed(
            FAMILIES, where, order_by="registered_at", limit=SCAN_LIMIT
        ):
            raw[record.id] = record
    wanted = store.index.query(name) if name else frozenset()
    positioned = sorted(
        (datetime.fromisoformat(r.data["registered_at"]), r.id, r)
        for r in raw.values()
        if keep(r.data) and wanted <= set(r.data.get(NAME_INDEX) or ())
    )
    if after is not None:
        positioned = [p for p in positioned if (p[0], p[1]) > after]
    if not name:
        positioned = positioned[: limit + 1]
    opened = []
    for _, _, record in positioned:
        try:
            opened.append(family_from_record(await store.unseal(FAMILIES, record)))
        except KeyDestroyedError:
            continue  # erased: its key is gone, so it is no longer a family anyone can find
    return opened


@dataclass(frozen=True, slots=True)
class Versioned:
    """A family with the stored version it was read at (for optimistic concurrency)."""

    family: Family
    version: int


async def get_versioned(store: Store, family_id: str) -> Versioned | None:
    """Read one family with its stored version (for the ETag), or None."""
    record = await store.get(FAMILIES, family_id)
    return None if record is None else Versioned(family_from_record(record), record.version)


async def load_family(uow: UnitOfWork, family_id: str) -> Versioned | None:
    """Read one family inside a unit of work, with its version, or None."""
    record = await uow.get(FAMILIES, family_id)
    return None if record is None else Versioned(family_from_record(record), record.version)


async def replace_family(uow: UnitOfWork, family: Family, *, expected_version: int) -> int:
    """Store a changed family and return its new version; StaleWriteError if it changed since."""
    record = await uow.replace(
        FAMILIES, family.id, family_to_doc(family), expected_version=expected_version
    )
    return record.version


async def prepare(store: Store) -> None:
    """Indexes intake's queries need."""
    await store.ensure_index(FAMILIES, ["wijk"])
    await store.ensure_index(FAMILIES, ["trusted_person_id"])
    await store.ensure_index(FAMILIES, ["father_trusted_person_id"])
