"""Events produced by the intake service."""

from typing import Annotated

from pydantic import Field, field_validator

from alamal_contracts import topics
from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    IntakeSource,
    LanguageCode,
    MemberRole,
    Project,
    Wijk,
)
from alamal_contracts.events.base import Distinct, EntityId, Event, Part, Timestamp, distinct


class MemberCount(Part):
    """How many household members have one role and age band."""

    role: MemberRole = Field(description="Role in the family of the members counted.")
    age_band: AgeBand = Field(description="Age band of the members counted.")
    count: int = Field(ge=1, le=30, description="Number of members with this role and age band.")


class ConsentFlag(Part):
    """Whether the family granted one consent purpose."""

    purpose: ConsentPurpose = Field(description="The purpose consented to or refused.")
    granted: bool = Field(description="True if the family granted this purpose.")


class FamilyRegistered(Event):
    """A family was registered at intake and assigned a trusted person."""

    TOPIC = topics.FAMILY_REGISTERED
    CE_TYPE = topics.event_type(TOPIC)

    wijk: Wijk = Field(description="Wijk of Utrecht the family lives in.")
    projects: Annotated[tuple[Project, ...], Distinct()] = Field(
        max_length=16,
        description="Projects the family takes part in, each at most once.",
    )
    member_counts: tuple[MemberCount, ...] = Field(
        min_length=1,
        max_length=30,
        description="Household members counted by role and age band, one entry per pair.",
    )
    languages: Annotated[tuple[LanguageCode, ...], Distinct()] = Field(
        max_length=10,
        description="ISO 639-1 codes of the languages spoken at home, each at most once.",
    )
    intake_source: IntakeSource = Field(description="Who referred the family to intake, if anyone.")
    trusted_person_id: EntityId = Field(
        description="Id of the staff user assigned as the family's trusted person."
    )
    consents: tuple[ConsentFlag, ...] = Field(
        max_length=32,
        description="Consent per purpose, each purpose at most once; absent means not granted.",
    )
    registered_at: Timestamp = Field(description="When the family was registered (UTC).")

    @field_validator("member_counts")
    @classmethod
    def _one_count_per_role_and_band(
        cls, value: tuple[MemberCount, ...]
    ) -> tuple[MemberCount, ...]:
        distinct(tuple((item.role, item.age_band) for item in value))
        return value

    @field_validator("consents")
    @classmethod
    def _one_flag_per_purpose(cls, value: tuple[ConsentFlag, ...]) -> tuple[ConsentFlag, ...]:
        distinct(tuple(item.purpose for item in value))
        return value


class ConsentChanged(Event):
    """The family granted or withdrew consent for one purpose."""

    TOPIC = topics.CONSENT_CHANGED
    CE_TYPE = topics.event_type(TOPIC)

    purpose: ConsentPurpose = Field(description="The purpose whose consent changed.")
    granted: bool = Field(description="True if granted, false if withdrawn or refused.")
    changed_at: Timestamp = Field(description="When the change was recorded (UTC).")
    consent_text_version: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{0,31}$",
        description="Version code of the consent wording the family was shown, e.g. `2025-09`.",
    )


class FamilyReassigned(Event):
    """A coordinator changed who supports the family: its trusted person or the father's."""

    TOPIC = topics.FAMILY_REASSIGNED
    CE_TYPE = topics.event_type(TOPIC)

    trusted_person_id: EntityId = Field(
        description="Id of the staff user now assigned as the family's trusted person."
    )
    father_trusted_person_id: EntityId | None = Field(
        default=None,
        description=(
            "Id of the staff user now supporting the father in the project Tussen In; "
            "null when none is assigned."
        ),
    )
    previous_trusted_person_id: EntityId | None = Field(
        default=None,
        description=(
            "Id of the family's trusted person before this change; null when it did not change."
        ),
    )
    reassigned_at: Timestamp = Field(description="When the assignment changed (UTC).")
