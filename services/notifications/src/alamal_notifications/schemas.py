"""Request and response bodies of the admin API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StringConstraints,
    field_validator,
)

from alamal_contracts.codes import PartnerKind
from alamal_notifications.domain.delivery import FILTER_VALUES, EventType, FilterField
from alamal_notifications.messages import Attempt, Message
from alamal_notifications.ssrf import MAX_URL_LENGTH
from alamal_notifications.store import Endpoint, Partner

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerIn(_In):
    """A partner organisation to register."""

    name: Name
    kind: PartnerKind


class PartnerPatch(_In):
    """Changes to a partner; absent fields stay. A new kind or `active` is told to every service
    (`notifications.partner-changed.v1`): the consent gate decides on the registered kind."""

    name: Name | None = None
    kind: PartnerKind | None = None
    active: StrictBool | None = None


class PartnerOut(BaseModel):
    """A registered partner organisation."""

    id: str
    name: str
    kind: PartnerKind
    active: bool
    revision: int
    created_at: datetime
    endpoint_ids: list[str]

    @classmethod
    def of(cls, partner: Partner) -> PartnerOut:
        """From the stored partner."""
        return cls(
            id=partner.id,
            name=partner.name,
            kind=partner.kind,
            active=partner.active,
            revision=partner.revision,
            created_at=partner.created_at,
            endpoint_ids=list(partner.endpoint_ids),
        )


class AnnounceOut(BaseModel):
    """How many partner facts were emitted again."""

    announced: int


class CredentialOut(BaseModel):
    """A partner API credential; the secret is shown here once and never again."""

    client_id: str
    client_secret: str
    partner_id: str


def _check_filters(value: dict[FilterField, list[str]]) -> dict[FilterField, list[str]]:
    for field, values in value.items():
        if not values:
            raise ValueError(f"filter {field.value} needs at least one value")
        unknown = set(values) - FILTER_VALUES[field]
        if unknown:
            raise ValueError(f"filter {field.value} allows {sorted(FILTER_VALUES[field])}")
        if len(set(values)) != len(values):
            raise ValueError(f"filter {field.value} repeats a value")
    return value


def _check_event_types(value: list[EventType]) -> list[EventType]:
    if len(set(value)) != len(value):
        raise ValueError("event types must be distinct")
    return value


class EndpointIn(_In):
    """A webhook endpoint to register. It starts disabled and is sent nothing, not even a test,
    until `POST /endpoints/{id}/verify` (after the partner installed the secret) enables it."""

    url: str = Field(max_length=MAX_URL_LENGTH)
    event_types: list[EventType] = Field(min_length=1, max_length=len(EventType))
    filters: dict[FilterField, list[str]] = Field(default_factory=dict)
    description: Description = ""
    enabled: Literal[False] = Field(
        default=False,
        description=(
            "Always false: a new endpoint is enabled by its verify action, once the partner "
            "can check the signature."
        ),
    )

    _filters = field_validator("filters")(_check_filters)
    _types = field_validator("event_types")(_check_event_types)


class EndpointPatch(_In):
    """Changes to an endpoint; absent fields stay as they are. Re-enabling clears its failures."""

    event_types: list[EventType] | None = Field(default=None, min_length=1)
    filters: dict[FilterField, list[str]] | None = None
    description: Description | None = None
    enabled: StrictBool | None = None

    @field_validator("filters")
    @classmethod
    def _filters(
        cls, value: dict[FilterField, list[str]] | None
    ) -> dict[FilterField, list[str]] | None:
        return None if value is None else _check_filters(value)

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[EventType] | None) -> list[EventType] | None:
        return None if value is None else _check_event_types(value)


class EndpointOut(BaseModel):
    """An endpoint as the admin sees it (never its secrets)."""

    id: str
    partner_id: str
    url: str
    event_types: list[EventType]
    filters: dict[FilterField, list[str]]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    secrets_active: int
    created_at: datetime
    verified_at: datetime | None

    @classmethod
    def of(cls, endpoint: Endpoint, *, now: float) -> EndpointOut:
        """From the stored endpoint."""
        return cls(
            id=endpoint.id,
            partner_id=endpoint.partner_id,
            url=endpoint.url,
            event_types=sorted(endpoint.subscription.event_types),
            filters={k: sorted(v) for k, v in endpoint.subscription.filters.items()},
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=_at(endpoint.failing_since),
            secrets_active=len(endpoint.active_secrets(now)),
            created_at=endpoint.created_at,
            verified_at=endpoint.verified_at,
        )


class EndpointCreated(EndpointOut):
    """A new, disabled endpoint with its signing secret, shown here once: give it to the
    partner, then verify the endpoint."""

    secret: str


class RotateIn(_In):
    """How long the old secret keeps signing (default from settings)."""

    overlap_seconds: StrictFloat | None = Field(default=None, ge=0, le=7 * 24 * 3600)


class RotateOut(BaseModel):
    """The new signing secret, shown once; the old one signs too until `previous_expires_at`."""

    secret: str
    previous_expires_at: datetime


class MessageOut(BaseModel):
    """A webhook message's delivery state (ids and codes only)."""

    id: str
    endpoint_id: str
    event_type: str
    referral_id: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        """From the stored message."""
        return cls(
            id=message.id,
            endpoint_id=message.endpoint_id,
            event_type=message.event_type,
            referral_id=message.referral_id,
            state=message.state.value,
            attempts=message.attempts,
            created_at=datetime.fromtimestamp(message.created_at, UTC),
            next_attempt_at=_at(message.next_attempt_at if message.state == "pending" else None),
            last_status=message.last_status,
            last_error=message.last_error,
        )


class AttemptOut(BaseModel):
    """One delivery attempt in an endpoint's log."""

    id: str
    message_id: str
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str
    trigger: str

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        """From the stored attempt."""
        return cls(
            id=attempt.id,
            message_id=attempt.message_id,
            at=datetime.fromtimestamp(attempt.at, UTC),
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
            trigger=attempt.trigger,
        )


class RecoverIn(_In):
    """Resend every failed message created since this instant."""

    since: AwareDatetime


class RecoverOut(BaseModel):
    """How many failed messages were queued again."""

    requeued: int
