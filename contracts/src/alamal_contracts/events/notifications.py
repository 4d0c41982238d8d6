"""Events produced by the notifications service."""

from pydantic import Field

from alamal_contracts import topics
from alamal_contracts.codes import Code, EndpointDisabledReason, PartnerKind, ReferralStatus
from alamal_contracts.events.base import EntityId, Event, OperationalEvent, Timestamp


class PartnerStatusReported(Event):
    """A partner reported a referral's status through the partner API; cases applies it."""

    TOPIC = topics.PARTNER_STATUS_REPORTED
    CE_TYPE = topics.event_type(TOPIC)

    referral_id: EntityId = Field(description="Id of the referral.")
    partner_id: EntityId = Field(description="Id of the partner organisation reporting.")
    status: ReferralStatus = Field(description="Status the partner reports.")
    outcome_code: Code | None = Field(
        default=None, description="Outcome code reported with the status, if any."
    )
    reported_at: Timestamp = Field(description="When the partner reported the status (UTC).")


class EndpointDisabled(OperationalEvent):
    """The notifications service disabled a partner's webhook endpoint (operational)."""

    TOPIC = topics.ENDPOINT_DISABLED
    CE_TYPE = topics.event_type(TOPIC)
    KEY_FIELD = "endpoint_id"

    endpoint_id: EntityId = Field(description="Id of the endpoint; the Kafka partition key.")
    partner_id: EntityId = Field(description="Id of the partner organisation owning it.")
    reason: EndpointDisabledReason = Field(description="Why the endpoint was disabled.")
    disabled_at: Timestamp = Field(description="When the endpoint was disabled (UTC).")


class PartnerFact(OperationalEvent):
    """What other services may know of a partner organisation: its id, kind and whether it is
    active. Never its name or contact data. Consumers keep the fact with the highest
    `revision` per partner, so any delivery order and any repeat give one final state."""

    KEY_FIELD = "partner_id"

    partner_id: EntityId = Field(description="Id of the partner organisation; the Kafka key.")
    kind: PartnerKind = Field(
        description="The kind the partner is registered as: the consent gate decides on it."
    )
    active: bool = Field(
        description="False once the partner was deactivated: nothing more may be sent to it."
    )
    revision: int = Field(
        ge=1,
        description="Counts the partner's kind and active changes from 1; the highest wins.",
    )
    changed_at: Timestamp = Field(description="When this revision was made (UTC).")


class PartnerRegistered(PartnerFact):
    """A partner organisation was registered (or announced again at start-up: same revision)."""

    TOPIC = topics.PARTNER_REGISTERED
    CE_TYPE = topics.event_type(TOPIC)


class PartnerChanged(PartnerFact):
    """A partner organisation's registered kind or active flag changed."""

    TOPIC = topics.PARTNER_CHANGED
    CE_TYPE = topics.event_type(TOPIC)
