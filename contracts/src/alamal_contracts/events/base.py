"""The event base class and the field types every event shares: ids and UTC timestamps."""

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

EntityId = Annotated[
    str,
    StringConstraints(pattern=UUID_PATTERN),
    Field(json_schema_extra={"format": "uuid"}),
]
"""An opaque id: a canonical lowercase UUID string, so one entity never has two spellings."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC."""


def distinct[T: Hashable](values: tuple[T, ...]) -> tuple[T, ...]:
    """Return the values unchanged, or raise ValueError if any value repeats."""
    if len(set(values)) != len(values):
        raise ValueError("values must be distinct")
    return values


class Distinct:
    """Marks a tuple field whose items must not repeat (validated, and `uniqueItems` in schema)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate the inner type, then reject repeats."""
        return core_schema.no_info_after_validator_function(distinct, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Add `uniqueItems` to the JSON Schema of the tuple."""
        return {**handler(schema), "uniqueItems": True}


class Part(BaseModel):
    """A frozen value nested inside an event."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EventBase(BaseModel):
    """A thin event: ids, codes, counts, bands, dates and flags; never names or notes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TOPIC: ClassVar[str]
    """The Kafka topic the event is published on."""
    CE_TYPE: ClassVar[str]
    """The CloudEvents `type` attribute, `nl.alamal.<topic>`."""

    @property
    def partition_key(self) -> str:
        """The Kafka key: the events sharing it stay in order."""
        raise NotImplementedError


class Event(EventBase):
    """An event about one family, keyed by the family so its events stay in order."""

    family_id: EntityId = Field(
        description="Id of the family the event is about; the Kafka partition key."
    )

    @property
    def partition_key(self) -> str:
        """The family id."""
        return self.family_id


class OperationalEvent(EventBase):
    """An event about the platform's own machinery (no family), keyed by the entity it names."""

    KEY_FIELD: ClassVar[str]
    """The field holding the id of the entity the event is about: the Kafka partition key."""

    @property
    def partition_key(self) -> str:
        """The id of the entity the event is about."""
        key: str = getattr(self, self.KEY_FIELD)
        return key
