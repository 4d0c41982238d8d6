"""Bodies of the family update, search and assignment endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from alamal_contracts.codes import Project, Wijk
from alamal_intake.domain import KEEP, Family, Reassign, UpdateFamily
from alamal_intake.hygiene import clean_note
from alamal_intake.schemas import AddressIn, Language, MemberIn, Strict, _unique
from alamal_runtime.http import DomainView

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{6,20}$")]
Notes = Annotated[str, StringConstraints(max_length=4000), AfterValidator(clean_note)]


class UpdateFamilyIn(Strict):
    """Body of PATCH /families/{id}: only the fields sent change; `null` clears an optional one."""

    members: Annotated[list[MemberIn], Field(min_length=1, max_length=30)] | None = None
    wijk: Wijk | None = None
    projects: Annotated[list[Project], Field(max_length=10), AfterValidator(_unique)] | None = None
    languages: (
        Annotated[list[Language], Field(min_length=1, max_length=10), AfterValidator(_unique)]
        | None
    ) = None
    address: AddressIn | None = None
    phone: Phone | None = None
    notes: Notes | None = None

    @model_validator(mode="after")
    def _required_fields_are_not_cleared(self) -> UpdateFamilyIn:
        for name in ("members", "wijk", "projects", "languages"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def to_command(self) -> UpdateFamily:
        """The domain command: fields not sent stay as they are."""
        sent = self.model_fields_set
        return UpdateFamily(
            members=tuple(m.to_domain() for m in self.members) if self.members else KEEP,
            wijk=self.wijk if self.wijk is not None else KEEP,
            projects=tuple(self.projects) if self.projects is not None else KEEP,
            languages=tuple(self.languages) if self.languages is not None else KEEP,
            address=(
                (None if self.address is None else self.address.to_domain())
                if "address" in sent
                else KEEP
            ),
            phone=self.phone if "phone" in sent else KEEP,
            notes=self.notes if "notes" in sent else KEEP,
        )


class ReassignIn(Strict):
    """Body of POST /families/{id}/assignment; `father_trusted_person_id: null` removes him."""

    trusted_person_id: uuid.UUID | None = None
    father_trusted_person_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> ReassignIn:
        if "trusted_person_id" in self.model_fields_set and self.trusted_person_id is None:
            raise ValueError("trusted_person_id cannot be null: a family always has one")
        if not self.model_fields_set:
            raise ValueError("name trusted_person_id, father_trusted_person_id or both")
        return self

    def to_command(self) -> Reassign:
        """The domain command: a field not sent keeps its current assignment."""
        father = self.father_trusted_person_id
        return Reassign(
            trusted_person_id=(
                str(self.trusted_person_id) if self.trusted_person_id is not None else KEEP
            ),
            father_trusted_person_id=(
                (None if father is None else str(father))
                if "father_trusted_person_id" in self.model_fields_set
                else KEEP
            ),
        )


class AssignmentOut(DomainView):
    """One record of the assignment history."""

    trusted_person_id: str
    father_trusted_person_id: str | None
    previous_trusted_person_id: str
    previous_father_trusted_person_id: str | None
    assigned_by: str
    assigned_at: datetime


class AssignmentsOut(BaseModel):
    """Who supports the family now, and every change before, oldest first."""

    family_id: str
    trusted_person_id: str
    father_trusted_person_id: str | None
    history: list[AssignmentOut]

    @classmethod
    def of(cls, family: Family) -> AssignmentsOut:
        """Build the response from the domain object."""
        return cls(
            family_id=family.id,
            trusted_person_id=family.trusted_person_id,
            father_trusted_person_id=family.father_trusted_person_id,
            history=[AssignmentOut.of(a) for a in family.assignments],
        )


class FamilySummaryOut(BaseModel):
    """A search hit: enough to recognise the family, no more."""

    id: str
    wijk: Wijk
    trusted_person_id: str
    first_names: list[str]
    registered_at: datetime

    @classmethod
    def of(cls, family: Family) -> FamilySummaryOut:
        """Build the summary from the domain object."""
        return cls(
            id=family.id,
            wijk=family.wijk,
            trusted_person_id=family.trusted_person_id,
            first_names=[m.first_name for m in family.members],
            registered_at=family.registered_at,
        )


class SearchOut(BaseModel):
    """One page of search results, oldest registration first."""

    results: list[FamilySummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")
