"""Events produced by the notifications service."""

from pydantic import Field

from alamal_contracts import topics
from alamal_contracts.codes import Code, EndpointDisabledReason, ReferralStatus
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

    endpoint_id: EntityId = Field(description="Id of the endpoint; the Kafka partition key.")
    partner_id: EntityId = Field(description="Id of the partner organisation owning it.")
    reason: EndpointDisabledReason = Field(description="Why the endpoint was disabled.")
    disabled_at: Timestamp = Field(description="When the endpoint was disabled (UTC).")

    @property
    def partition_key(self) -> str:
        """The endpoint id."""
        return self.endpoint_id
