"""Intake's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from alamal_contracts.codes import ConsentPurpose, IntakeSource, MemberRole, Project, Wijk
from alamal_intake.audit import AuditAction, AuditOutcome
from alamal_intake.consent import RecordConsent, current_consents
from alamal_intake.domain import (
    Address,
    ConsentBasis,
    Family,
    Member,
    RegisterFamily,
)
from alamal_intake.hygiene import clean_name
from alamal_runtime.http import DomainView

TextVersion = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{0,31}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(clean_name),
]


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
    birth_year: Annotated[StrictInt, Field(ge=1900), AfterValidator(_not_in_future)]
    first_name: Name
    surname: Name | None = None
    languages: Annotated[list[Language], Field(max_length=10)] = []

    def to_domain(self) -> Member:
        """The domain value."""
        return Member(
            role=self.role,
            birth_year=self.birth_year,
            first_name=self.first_name,
            surname=self.surname,
            languages=tuple(self.languages),
        )


class AddressIn(Strict):
    """A Dutch postal address."""

    street: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        AfterValidator(clean_name),
    ]
    house_number: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, pattern=r"^[1-9][0-9]{0,4}[ -]?[A-Za-z0-9-]{0,6}$"
        ),
    ]
    postcode: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{3} ?[A-Z]{2}$")]
    city: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=60),
        AfterValidator(clean_name),
    ]

    def to_domain(self) -> Address:
        """The domain value."""
        return Address(
            street=self.street,
            house_number=self.house_number,
            postcode=self.postcode,
            city=self.city,
        )

    @classmethod
    def of(cls, address: Address | None) -> AddressIn | None:
        """Build the response part from the domain value."""
        if address is None:
            return None
        return cls(
            street=address.street,
            house_number=address.house_number,
            postcode=address.postcode,
            city=address.city,
        )


class ConsentIn(Strict):
    """The family's answer for one purpose."""

    purpose: ConsentPurpose
    granted: bool


class RecordConsentIn(Strict):
    """Body of POST /families/{family_id}/consents: one answer, granted or withdrawn."""

    purpose: ConsentPurpose
    granted: bool
    text_version: TextVersion
    basis: ConsentBasis | None = None

    def to_command(self) -> RecordConsent:
        """The domain command for this request."""
        return RecordConsent(
            purpose=self.purpose,
            granted=self.granted,
            text_version=self.text_version,
            basis=self.basis,
        )


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
    consent_text_version: TextVersion = "2026-1"

    def to_command(self, *, default_trusted_person: str) -> RegisterFamily:
        """The domain command for this request."""
        return RegisterFamily(
            members=tuple(m.to_domain() for m in self.members),
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


class MemberOut(DomainView):
    """A household member as shown to staff in scope."""

    role: MemberRole
    birth_year: int
    first_name: str
    surname: str | None
    languages: list[str]


class ConsentOut(DomainView):
    """A recorded consent answer."""

    purpose: ConsentPurpose
    granted: bool
    recorded_by: str
    recorded_at: datetime
    text_version: str
    basis: ConsentBasis | None


class ConsentsOut(BaseModel):
    """A family's current consent per purpose and the full history behind it (oldest first)."""

    family_id: str
    current: list[ConsentOut]
    history: list[ConsentOut]

    @classmethod
    def of(cls, family: Family) -> ConsentsOut:
        """Build the response from the domain object."""
        return cls(
            family_id=family.id,
            current=[ConsentOut.of(c) for c in current_consents(family.consents)],
            history=[ConsentOut.of(c) for c in family.consents],
        )


class AuditRecordOut(DomainView):
    """One audited access: ids and codes only."""

    id: str
    at: datetime
    user_id: str
    role: str
    action: AuditAction
    family_id: str | None
    outcome: AuditOutcome
    reason: str


class AuditOut(BaseModel):
    """A family's audit records, newest first."""

    family_id: str
    records: list[AuditRecordOut]


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
    father_trusted_person_id: str | None = None
    address: AddressIn | None = None
    phone: str | None = None
    notes: str | None = None

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
            members=[MemberOut.of(m) for m in family.members],
            # The current answer per purpose; GET /families/{id}/consents has the history.
            consents=[ConsentOut.of(c) for c in current_consents(family.consents)],
            registered_by=family.registered_by,
            registered_at=family.registered_at,
            father_trusted_person_id=family.father_trusted_person_id,
            address=AddressIn.of(family.address),
            phone=family.phone,
            notes=family.notes,
        )
