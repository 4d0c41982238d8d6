"""Intake's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from alamal_contracts.codes import ConsentPurpose, IntakeSource, MemberRole, Project, Wijk
from alamal_intake.domain import Family, Member, RegisterFamily

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _not_in_future(year: int) -> int:
    if year > datetime.now(UTC).year:
        raise ValueError("birth year lies in the future")
    return year


def _unique[T](items: list[T]) -> list[T]:
    if len(set(items)) != len(items):
        raise ValueError("values must be unique")
    return items


def _one_per_purpose(consents: list[ConsentIn]) -> list[ConsentIn]:
    purposes = [c.purpose for c in consents]
    if len(set(purposes)) != len(purposes):
        raise ValueError("one answer per purpose")
    return consents


class Strict(BaseModel):
    """Request bodies reject unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberIn(Strict):
    """A household member as entered at intake."""

    role: MemberRole
    birth_year: Annotated[int, Field(ge=1900), AfterValidator(_not_in_future)]
    first_name: Name
    surname: Name | None = None
    languages: Annotated[list[Language], Field(max_length=10)] = []


class ConsentIn(Strict):
    """The family's answer for one purpose."""

    purpose: ConsentPurpose
    granted: bool


class RegisterFamilyIn(Strict):
    """Body of POST /families."""

    members: Annotated[list[MemberIn], Field(min_length=1, max_length=30)]
    wijk: Wijk
    projects: Annotated[list[Project], Field(max_length=10), AfterValidator(_unique)] = []
    languages: Annotated[
        list[Language], Field(min_length=1, max_length=10), AfterValidator(_unique)
    ]
    intake_source: IntakeSource
    trusted_person_id: uuid.UUID | None = Field(
        default=None, description="Assigned trusted person; defaults to the caller"
    )
    consents: Annotated[
        list[ConsentIn], Field(max_length=len(ConsentPurpose)), AfterValidator(_one_per_purpose)
    ] = []
    consent_text_version: Annotated[
        str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{0,31}$")
    ] = "2026-1"

    def to_command(self, *, default_trusted_person: str) -> RegisterFamily:
        """The domain command for this request."""
        return RegisterFamily(
            members=tuple(
                Member(
                    role=m.role,
                    birth_year=m.birth_year,
                    first_name=m.first_name,
                    surname=m.surname,
                    languages=tuple(m.languages),
                )
                for m in self.members
            ),
            wijk=self.wijk,
            projects=tuple(self.projects),
            languages=tuple(self.languages),
            intake_source=self.intake_source,
            trusted_person_id=(
                str(self.trusted_person_id) if self.trusted_person_id else default_trusted_person
            ),
            consents=tuple((c.purpose, c.granted) for c in self.consents),
            consent_text_version=self.consent_text_version,
        )


class MemberOut(BaseModel):
    """A household member as shown to staff in scope."""

    role: MemberRole
    birth_year: int
    first_name: str
    surname: str | None
    languages: list[str]


class ConsentOut(BaseModel):
    """A recorded consent answer."""

    purpose: ConsentPurpose
    granted: bool
    recorded_by: str
    recorded_at: datetime
    text_version: str


class FamilyOut(BaseModel):
    """A family as shown to staff in scope."""

    id: str
    wijk: Wijk
    projects: list[Project]
    languages: list[str]
    intake_source: IntakeSource
    trusted_person_id: str
    members: list[MemberOut]
    consents: list[ConsentOut]
    registered_by: str
    registered_at: datetime

    @classmethod
    def of(cls, family: Family) -> FamilyOut:
        """Build the response from the domain object."""
        return cls(
            id=family.id,
            wijk=family.wijk,
            projects=list(family.projects),
            languages=list(family.languages),
            intake_source=family.intake_source,
            trusted_person_id=family.trusted_person_id,
            members=[
                MemberOut(
                    role=m.role,
                    birth_year=m.birth_year,
                    first_name=m.first_name,
                    surname=m.surname,
                    languages=list(m.languages),
                )
                for m in family.members
            ],
            consents=[
                ConsentOut(
                    purpose=c.purpose,
                    granted=c.granted,
                    recorded_by=c.recorded_by,
                    recorded_at=c.recorded_at,
                    text_version=c.text_version,
                )
                for c in family.consents
            ],
            registered_by=family.registered_by,
            registered_at=family.registered_at,
        )
