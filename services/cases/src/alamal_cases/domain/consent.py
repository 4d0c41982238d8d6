"""The family's current consent per purpose, projected from intake's events. Pure.

Events can arrive out of order or more than once, so the projection keeps, per purpose, the
record that wins a total order (latest `changed_at`; on a tie a withdrawal wins, the safer
reading): merging is then commutative and idempotent, and any delivery order gives one result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.events import ConsentChanged, FamilyRegistered


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One purpose's consent as of `changed_at`; `text_version` is None for intake's flags."""

    family_id: str
    purpose: ConsentPurpose
    granted: bool
    changed_at: datetime
    text_version: str | None = None


def _rank(record: ConsentRecord) -> tuple[datetime, bool, str]:
    return (record.changed_at, not record.granted, record.text_version or "")


def newer(current: ConsentRecord | None, incoming: ConsentRecord) -> ConsentRecord:
    """The record that wins: the later change; on a tie a withdrawal, then the text version."""
    if current is None or _rank(incoming) > _rank(current):
        return incoming
    return current


def merge(
    records: Iterable[ConsentRecord],
    into: Mapping[ConsentPurpose, ConsentRecord] | None = None,
) -> dict[ConsentPurpose, ConsentRecord]:
    """Fold records into the current consent per purpose, in any order, duplicates harmless."""
    current = dict(into or {})
    for record in records:
        current[record.purpose] = newer(current.get(record.purpose), record)
    return current


def from_registration(registered: FamilyRegistered) -> list[ConsentRecord]:
    """Intake's initial consent flags, as changes at the moment of registration."""
    return [
        ConsentRecord(
            family_id=registered.family_id,
            purpose=flag.purpose,
            granted=flag.granted,
            changed_at=registered.registered_at,
        )
        for flag in registered.consents
    ]


def from_change(changed: ConsentChanged) -> ConsentRecord:
    """One consent change."""
    return ConsentRecord(
        family_id=changed.family_id,
        purpose=changed.purpose,
        granted=changed.granted,
        changed_at=changed.changed_at,
        text_version=changed.consent_text_version,
    )
