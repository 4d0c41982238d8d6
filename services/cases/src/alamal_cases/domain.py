"""Cases' domain: a case opened for a registered family. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alamal_contracts.codes import Wijk
from alamal_contracts.events import CaseOpened, FamilyRegistered


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
