"""CloudEvents 1.0 over Kafka (protocol binding, binary content mode): pure (de)serialisation.

The event model's JSON is the Kafka value; the CloudEvents attributes travel as `ce_*` headers
with UTF-8 values; the Kafka key is the family id. W3C trace context travels in the
`traceparent` and `tracestate` headers: the telemetry layer sets and reads them, this module
leaves them alone. Error messages here never quote payload values, which may hold personal
data when a producer misbehaves.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, overload

from pydantic import ValidationError

from alamal_contracts.events import EVENTS_BY_TYPE, EventBase
from alamal_contracts.events.base import UUID_PATTERN
from alamal_contracts.introspect import nested_models

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"

SPECVERSION_HEADER: Final = "ce_specversion"
ID_HEADER: Final = "ce_id"
SOURCE_HEADER: Final = "ce_source"
TYPE_HEADER: Final = "ce_type"
TIME_HEADER: Final = "ce_time"
SUBJECT_HEADER: Final = "ce_subject"
DATASCHEMA_HEADER: Final = "ce_dataschema"
CONTENT_TYPE_HEADER: Final = "content-type"
TRACEPARENT_HEADER: Final = "traceparent"
"""W3C trace context; set and read by the telemetry layer, never here."""
TRACESTATE_HEADER: Final = "tracestate"
"""W3C trace state; set and read by the telemetry layer, never here."""

type Headers = Iterable[tuple[str, bytes | None]]

_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_ATTRIBUTE: Final = re.compile(r"^[\x21-\x7e]{1,256}$")
_UUID: Final = re.compile(UUID_PATTERN)
_SAFE_TYPE: Final = re.compile(r"^nl\.alamal\.[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*\.v[0-9]{1,4}$")


class EnvelopeError(ValueError):
    """A Kafka record is not a valid CloudEvent of a known type; the message names no values."""


@dataclass(frozen=True, slots=True)
class DataProblem:
    """One validation problem in event data: where (field path) and what (pydantic error type)."""

    loc: str
    type: str


class EventDataError(EnvelopeError):
    """The event data does not match its model; carries locations and error types only."""

    def __init__(self, ce_type: str, problems: tuple[DataProblem, ...]) -> None:
        self.ce_type = ce_type
        self.problems = problems
        listed = "; ".join(f"{p.loc}: {p.type}" for p in problems)
        super().__init__(f"invalid data for {ce_type}: {listed}")


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What to hand to a Kafka producer: topic, key (family id), value (JSON) and headers."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class CloudEvent[ModelT: EventBase]:
    """A received CloudEvent with its attributes and its validated data."""

    id: str
    source: str
    type: str
    time: datetime
    data: ModelT
    subject: str | None = None
    dataschema: str | None = None


def source_for(service: str) -> str:
    """Return the CloudEvents `source` of a service, e.g. `/alamal/intake`."""
    return f"/alamal/{service}"


def format_time(time: datetime) -> str:
    """Format an aware datetime as an RFC 3339 UTC timestamp ending in `Z`."""
    if time.tzinfo is None or time.utcoffset() is None:
        raise EnvelopeError("time must be timezone-aware")
    return time.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_kafka(
    event: EventBase,
    *,
    event_id: str,
    source: str,
    time: datetime,
    subject: str | None = None,
    dataschema: str | None = None,
) -> KafkaRecord:
    """Wrap an event as a binary-mode CloudEvent Kafka record keyed by its partition key."""
    _check_attribute("event_id", event_id)
    _check_attribute("source", source)
    if subject is not None and not _UUID.fullmatch(subject):
        raise EnvelopeError("subject must be an entity id (lowercase UUID)")
    if dataschema is not None:
        _check_attribute("dataschema", dataschema)
    attributes = {
        SPECVERSION_HEADER: SPECVERSION,
        ID_HEADER: event_id,
        SOURCE_HEADER: source,
        TYPE_HEADER: event.CE_TYPE,
        TIME_HEADER: format_time(time),
        SUBJECT_HEADER: subject,
        DATASCHEMA_HEADER: dataschema,
        CONTENT_TYPE_HEADER: CONTENT_TYPE,
    }
    headers = tuple((k, v.encode()) for k, v in attributes.items() if v is not None)
    return KafkaRecord(
        topic=event.TOPIC,
        key=event.partition_key,
        value=event.model_dump_json().encode(),
        headers=headers,
    )


@overload
def from_kafka(value: bytes, headers: Headers) -> CloudEvent[EventBase]: ...
@overload
def from_kafka[ModelT: EventBase](
    value: bytes, headers: Headers, *, expect: type[ModelT]
) -> CloudEvent[ModelT]: ...
def from_kafka(
    value: bytes, headers: Headers, *, expect: type[EventBase] | None = None
) -> CloudEvent[EventBase]:
    """Validate the `ce_*` headers and parse the value into the model registered for `ce_type`."""
    attrs = _ce_headers(headers)
    if _required(attrs, SPECVERSION_HEADER) != SPECVERSION:
        raise EnvelopeError(f"header {SPECVERSION_HEADER} must be {SPECVERSION}")
    content_type = _required(attrs, CONTENT_TYPE_HEADER).split(";", 1)[0].strip().lower()
    if content_type != CONTENT_TYPE:
        raise EnvelopeError(f"header {CONTENT_TYPE_HEADER} must be {CONTENT_TYPE}")
    ce_type = _required(attrs, TYPE_HEADER)
    model = EVENTS_BY_TYPE.get(ce_type)
    if model is None:
        shown = ce_type if _SAFE_TYPE.fullmatch(ce_type) else "(malformed)"
        raise EnvelopeError(f"unknown {TYPE_HEADER} {shown}")
    if expect is not None and model is not expect:
        raise EnvelopeError(f"{TYPE_HEADER} {ce_type} is not {expect.CE_TYPE}")
    subject = attrs.get(SUBJECT_HEADER)
    if subject is not None and not _UUID.fullmatch(subject):
        raise EnvelopeError(f"header {SUBJECT_HEADER} must be an entity id")
    return CloudEvent(
        id=_required(attrs, ID_HEADER),
        source=_required(attrs, SOURCE_HEADER),
        type=ce_type,
        time=_parse_time(_required(attrs, TIME_HEADER)),
        subject=subject,
        dataschema=attrs.get(DATASCHEMA_HEADER),
        data=_parse_data(model, value),
    )


def _check_attribute(name: str, value: str) -> None:
    if not _ATTRIBUTE.fullmatch(value):
        raise EnvelopeError(f"{name} must be 1-256 printable ASCII characters without spaces")


def _ce_headers(headers: Headers) -> dict[str, str]:
    wanted = {
        SPECVERSION_HEADER,
        ID_HEADER,
        SOURCE_HEADER,
        TYPE_HEADER,
        TIME_HEADER,
        SUBJECT_HEADER,
        DATASCHEMA_HEADER,
        CONTENT_TYPE_HEADER,
    }
    found: dict[str, str] = {}
    for name, raw in headers:
        if name not in wanted:
            continue
        if name in found:
            raise EnvelopeError(f"header {name} appears more than once")
        if raw is None:
            raise EnvelopeError(f"header {name} has no value")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise EnvelopeError(f"header {name} is not UTF-8") from None
        if name != CONTENT_TYPE_HEADER and not _ATTRIBUTE.fullmatch(text):
            raise EnvelopeError(f"header {name} must be 1-256 printable ASCII characters")
        found[name] = text
    return found


def _required(attrs: dict[str, str], name: str) -> str:
    value = attrs.get(name)
    if value is None:
        raise EnvelopeError(f"header {name} is missing")
    return value


def _parse_time(text: str) -> datetime:
    if not _RFC3339.fullmatch(text):
        raise EnvelopeError(f"header {TIME_HEADER} is not an RFC 3339 timestamp")
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        raise EnvelopeError(f"header {TIME_HEADER} is not an RFC 3339 timestamp") from None


def _parse_data[ModelT: EventBase](model: type[ModelT], value: bytes) -> ModelT:
    # The pydantic error is summarised outside the except block so that neither the message
    # nor the exception chain (__cause__/__context__) carries the offending input.
    problems: tuple[DataProblem, ...] = ()
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        problems = _problems(model, exc)
    raise EventDataError(model.CE_TYPE, problems)


def _problems(model: type[EventBase], exc: ValidationError) -> tuple[DataProblem, ...]:
    known = _field_names(model)
    return tuple(
        DataProblem(loc=_loc(err["loc"], known), type=err["type"])
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    )


def _loc(parts: tuple[int | str, ...], known: frozenset[str]) -> str:
    # An unexpected key is itself input (it could be a name), so only known field names show.
    shown = [str(p) if isinstance(p, int) or p in known else "<unknown>" for p in parts]
    return ".".join(shown) or "<root>"


def _field_names(model: type[EventBase]) -> frozenset[str]:
    names: set[str] = set()
    for item in nested_models(model):
        names.update(item.model_fields)
    return frozenset(names)
