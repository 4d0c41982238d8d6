"""Intake's domain: a registered family and the thin event it announces. Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    IntakeSource,
    MemberRole,
    Project,
    Wijk,
    age_band,
)
from alamal_contracts.events import ConsentFlag, FamilyRegistered, MemberCount


@dataclass(frozen=True, slots=True)
class Member:
    """A household member. Names stay in intake's store; events carry only role and age band."""

    role: MemberRole
    birth_year: int
    first_name: str
    surname: str | None
    languages: tuple[str, ...]


class ConsentBasis(StrEnum):
    """How the family gave its answer (a code, never free text)."""

    VERBAL = "verbal"
    WRITTEN = "written"
    DIGITAL = "digital"


@dataclass(frozen=True, slots=True)
class Consent:
    """One recorded answer of the family for one purpose: a record in its consent history."""

    purpose: ConsentPurpose
    granted: bool
    recorded_by: str
    recorded_at: datetime
    text_version: str
    basis: ConsentBasis | None = None


@dataclass(frozen=True, slots=True)
class RegisterFamily:
    """Command: register a family at intake."""

    members: tuple[Member, ...]
    wijk: Wijk
    projects: tuple[Project, ...]
    languages: tuple[str, ...]
    intake_source: IntakeSource
    trusted_person_id: str
    consents: tuple[tuple[ConsentPurpose, bool], ...]
    consent_text_version: str


@dataclass(frozen=True, slots=True)
class Family:
    """A registered family (the aggregate intake owns)."""

    id: str
    members: tuple[Member, ...]
    wijk: Wijk
    projects: tuple[Project, ...]
    languages: tuple[str, ...]
    intake_source: IntakeSource
    trusted_person_id: str
    consents: tuple[Consent, ...]
    """The append-only consent history, oldest first (see `alamal_intake.consent`)."""
    registered_by: str
    registered_at: datetime


def register_family(
    command: RegisterFamily, *, family_id: str, registered_by: str, now: datetime
) -> tuple[Family, FamilyRegistered]:
    """Create the family and the event announcing it (no names, no birth years: bands only)."""
    consents = tuple(
        Consent(
            purpose=purpose,
            granted=granted,
            recorded_by=registered_by,
            recorded_at=now,
            text_version=command.consent_text_version,
        )
        for purpose, granted in command.consents
    )
    family = Family(
        id=family_id,
        members=command.members,
        wijk=command.wijk,
        projects=command.projects,
        languages=command.languages,
        intake_source=command.intake_source,
        trusted_person_id=command.trusted_person_id,
        consents=consents,
        registered_by=registered_by,
        registered_at=now,
    )
    return family, family_registered(family)


def member_counts(members: tuple[Member, ...], *, on_year: int) -> tuple[MemberCount, ...]:
    """How many members the household has per role and age band, in a stable order."""
    counts = Counter((m.role, age_band(m.birth_year, on_year)) for m in members)
    roles, bands = list(MemberRole), list(AgeBand)  # declaration order: roles, then youngest first
    return tuple(
        MemberCount(role=role, age_band=band, count=n)
        for (role, band), n in sorted(
            counts.items(), key=lambda item: (roles.index(item[0][0]), bands.index(item[0][1]))
        )
    )


def family_registered(family: Family) -> FamilyRegistered:
    """The thin event for a newly registered family."""
    return FamilyRegistered(
        family_id=family.id,
        wijk=family.wijk,
        projects=family.projects,
        member_counts=member_counts(family.members, on_year=family.registered_at.year),
        languages=tuple(sorted(set(family.languages))),
        intake_source=family.intake_source,
        trusted_person_id=family.trusted_person_id,
        consents=tuple(ConsentFlag(purpose=c.purpose, granted=c.granted) for c in family.consents),
        registered_at=family.registered_at,
    )
