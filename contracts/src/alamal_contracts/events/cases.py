"""Events produced by the cases service."""

from datetime import date
from typing import Annotated

from pydantic import Field

from alamal_contracts import topics
from alamal_contracts.codes import (
    Code,
    GoalStatus,
    LegalBasis,
    PartnerKind,
    ReferralStatus,
    TopicCode,
    Urgency,
    VisitKind,
    Wijk,
)
from alamal_contracts.events.base import Distinct, EntityId, Event, Timestamp

MAX_VISIT_MINUTES = 12 * 60


class CaseOpened(Event):
    """A case was opened for a family."""

    TOPIC = topics.CASE_OPENED
    CE_TYPE = topics.event_type(TOPIC)

    case_id: EntityId = Field(description="Id of the case.")
    trusted_person_id: EntityId = Field(description="Id of the staff user who holds the case.")
    wijk: Wijk = Field(description="Wijk the case is counted in.")
    opened_at: Timestamp = Field(description="When the case was opened (UTC).")


class CaseClosed(Event):
    """A case was closed, with its outcome codes."""

    TOPIC = topics.CASE_CLOSED
    CE_TYPE = topics.event_type(TOPIC)

    case_id: EntityId = Field(description="Id of the case.")
    outcome_codes: Annotated[tuple[Code, ...], Distinct()] = Field(
        max_length=20, description="Outcome codes of the case, each at most once."
    )
    closed_at: Timestamp = Field(description="When the case was closed (UTC).")


class VisitLogged(Event):
    """A trusted person logged a contact with a family."""

    TOPIC = topics.VISIT_LOGGED
    CE_TYPE = topics.event_type(TOPIC)

    visit_id: EntityId = Field(description="Id of the visit.")
    case_id: EntityId = Field(description="Id of the case the visit belongs to.")
    kind: VisitKind = Field(description="Kind of contact.")
    occurred_on: date = Field(description="Day the contact took place.")
    duration_minutes: int = Field(
        ge=1, le=MAX_VISIT_MINUTES, description="Length of the contact in whole minutes."
    )
    topic_codes: Annotated[tuple[TopicCode, ...], Distinct()] = Field(
        max_length=16, description="Life domains the contact was about, each at most once."
    )
    trusted_person_id: EntityId = Field(description="Id of the staff user who made the contact.")


class ReferralEscalated(Event):
    """A referral to a partner was approved and escalated."""

    TOPIC = topics.REFERRAL_ESCALATED
    CE_TYPE = topics.event_type(TOPIC)

    referral_id: EntityId = Field(description="Id of the referral.")
    case_id: EntityId = Field(description="Id of the case the referral belongs to.")
    partner_id: EntityId = Field(description="Id of the partner organisation addressed.")
    partner_kind: PartnerKind = Field(description="Kind of the partner organisation.")
    urgency: Urgency = Field(description="How fast the partner must act.")
    reason_codes: Annotated[tuple[Code, ...], Distinct()] = Field(
        min_length=1, max_length=20, description="Reason codes of the referral, each at most once."
    )
    legal_basis: LegalBasis = Field(
        description="Why sharing is lawful; the Meldcode override applies to Veilig Thuis only."
    )
    escalated_at: Timestamp = Field(description="When the referral was escalated (UTC).")


class ReferralUpdated(Event):
    """A partner reported a new status for a referral."""

    TOPIC = topics.REFERRAL_UPDATED
    CE_TYPE = topics.event_type(TOPIC)

    referral_id: EntityId = Field(description="Id of the referral.")
    partner_id: EntityId = Field(description="Id of the partner organisation reporting.")
    status: ReferralStatus = Field(description="Status reported by the partner.")
    outcome_code: Code | None = Field(
        default=None, description="Outcome code reported with the status, if any."
    )
    updated_at: Timestamp = Field(description="When the partner reported the status (UTC).")


class GoalUpdated(Event):
    """A goal of the family's strengths-based plan was set or changed status (no goal text)."""

    TOPIC = topics.GOAL_UPDATED
    CE_TYPE = topics.event_type(TOPIC)

    goal_id: EntityId = Field(description="Id of the goal.")
    case_id: EntityId = Field(description="Id of the case the plan belongs to.")
    area: TopicCode = Field(description="Life domain the goal is about.")
    status: GoalStatus = Field(description="Where the goal stands now.")
    revision: int = Field(
        ge=1, description="Counts the goal's changes from 1; a consumer keeps the highest seen."
    )
    updated_at: Timestamp = Field(description="When the goal was set or changed (UTC).")
