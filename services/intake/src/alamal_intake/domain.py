"""Intake's domain: a registered family and the thin event it announces. Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum, StrEnum

from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    IntakeSource,
    MemberRole,
    Project,
    Wijk,
    age_band,
)
from alamal_contracts.events import ConsentFlag, FamilyReassigned, FamilyRegistered, MemberCount


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
class Address:
    """Where the family lives (personal data: never in events, logs or the audit)."""

    street: str
    house_number: str
    postcode: str
    city: str


@dataclass(frozen=True, slots=True)
class Assignment:
    """One change of who supports the family: a record in its assignment history."""

    trusted_person_id: str
    father_trusted_person_id: str | None
    previous_trusted_person_id: str
    previous_father_trusted_person_id: str | None
    assigned_by: str
    assigned_at: datetime


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
    address: Address | None = None
    phone: str | None = None
    notes: str | None = None
    father_trusted_person_id: str | None = None
    """The male trusted person supporting the father in the project Tussen In, if any."""
    assignments: tuple[Assignment, ...] = ()
    """The append-only assignment history, oldest first (registration is not in it)."""


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


class Keep(Enum):
    """Marks a field an update leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class UpdateFamily:
    """Command: change a family's details; fields left at KEEP stay as they are."""

    members: tuple[Member, ...] | Keep = KEEP
    wijk: Wijk | Keep = KEEP
    projects: tuple[Project, ...] | Keep = KEEP
    languages: tuple[str, ...] | Keep = KEEP
    address: Address | Keep | None = KEEP
    phone: str | Keep | None = KEEP
    notes: str | Keep | None = KEEP


def update_family(family: Family, command: UpdateFamily) -> Family:
    """The family with the command's changes applied (members are replaced as a whole)."""
    changes = {
        name: value
        for name in ("members", "wijk", "projects", "languages", "address", "phone", "notes")
        if not isinstance(value := getattr(command, name), Keep)
    }
    return replace(family, **changes)


class AssignmentError(ValueError):
    """An assignment the family's situation does not allow."""


@dataclass(frozen=True, slots=True)
class Reassign:
    """Command: assign the family's trusted person and/or the father's (KEEP leaves one)."""

    trusted_person_id: str | Keep = KEEP
    father_trusted_person_id: str | Keep | None = KEEP


def father_in_tussen_in(family: Family) -> bool:
    """A father's trusted person is assigned only when a father takes part in Tussen In."""
    return Project.TUSSEN_IN in family.projects and any(
        m.role is MemberRole.FATHER for m in family.members
    )


def reassign(
    family: Family, command: Reassign, *, assigned_by: str, now: datetime
) -> tuple[Family, FamilyReassigned | None]:
    """Apply an assignment: the changed family and its thin event, or no event if nothing changed.

    AssignmentError when a father's trusted person is named for a family without a father
    in Tussen In.
    """
    primary = (
        family.trusted_person_id
        if isinstance(command.trusted_person_id, Keep)
        else command.trusted_person_id
    )
    father = (
        family.father_trusted_person_id
        if isinstance(command.father_trusted_person_id, Keep)
        else command.father_trusted_person_id
    )
    named_new_father = father is not None and father != family.father_trusted_person_id
    if named_new_father and not father_in_tussen_in(family):
        raise AssignmentError("a father's trusted person needs a father in Tussen In")
    if primary == family.trusted_person_id and father == family.father_trusted_person_id:
        return family, None
    record = Assignment(
        trusted_person_id=primary,
        father_trusted_person_id=father,
        previous_trusted_person_id=family.trusted_person_id,
        previous_father_trusted_person_id=family.father_trusted_person_id,
        assigned_by=assigned_by,
        assigned_at=now,
    )
    changed = replace(
        family,
        trusted_person_id=primary,
        father_trusted_person_id=father,
        assignments=(*family.assignments, record),
    )
    event = FamilyReassigned(
        family_id=family.id,
        trusted_person_id=primary,
        father_trusted_person_id=father,
        previous_trusted_person_id=(
            None if primary == family.trusted_person_id else family.trusted_person_id
        ),
        reassigned_at=now,
    )
    return changed, event
