"""A family's consent history (DESIGN decision 7). Pure: no I/O.

Consent is recorded per purpose as an append-only history: a withdrawal is a new record with
`granted=False`, never an edit. The current consent for a purpose is its latest record, where
"latest" means last appended (not the largest `recorded_at`), so clock skew cannot reorder it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.events import ConsentChanged
from alamal_intake.domain import Consent, ConsentBasis, Family


@dataclass(frozen=True, slots=True)
class RecordConsent:
    """Command: record the family's answer for one purpose."""

    purpose: ConsentPurpose
    granted: bool
    text_version: str
    basis: ConsentBasis | None = None


def current_consents(history: tuple[Consent, ...]) -> tuple[Consent, ...]:
    """The latest record per purpose, in the order each purpose was first recorded."""
    latest: dict[ConsentPurpose, Consent] = {}
    for record in history:
        latest[record.purpose] = record  # re-assigning keeps the key's first position
    return tuple(latest.values())


def current_consent(history: tuple[Consent, ...], purpose: ConsentPurpose) -> Consent | None:
    """The latest record for one purpose, or None if the family was never asked."""
    return next((c for c in reversed(history) if c.purpose is purpose), None)


def record_consent(
    family: Family, command: RecordConsent, *, recorded_by: str, now: datetime
) -> tuple[Family, Consent, ConsentChanged]:
    """Append a record to the family's history and announce it.

    Every statement is recorded, even one equal to the current answer: it is a fresh statement
    (often on a newer consent text), so it is appended and announced like any other.
    """
    record = Consent(
        purpose=command.purpose,
        granted=command.granted,
        recorded_by=recorded_by,
        recorded_at=now,
        text_version=command.text_version,
        basis=command.basis,
    )
    changed = dataclasses.replace(family, consents=(*family.consents, record))
    return changed, record, consent_changed(family.id, record)


def consent_changed(family_id: str, record: Consent) -> ConsentChanged:
    """The thin event for one consent record: no staff id, no basis, no personal data."""
    return ConsentChanged(
        family_id=family_id,
        purpose=record.purpose,
        granted=record.granted,
        changed_at=record.recorded_at,
        consent_text_version=record.text_version,
    )
