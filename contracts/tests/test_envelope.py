from datetime import UTC, datetime, timedelta, timezone

import pytest

from alamal_contracts import envelope
from alamal_contracts.envelope import (
    CloudEvent,
    EnvelopeError,
    EventDataError,
    KafkaRecord,
    from_kafka,
    to_kafka,
)
from alamal_contracts.events import CaseOpened, Event, EventBase, VisitLogged

from .conftest import AT, FAMILY, make_events

EVENT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
FAKE_NAME = "Fatima El Amrani"


def _record(event: EventBase | None = None) -> KafkaRecord:
    event = event or make_events()[2]
    return to_kafka(event, event_id=EVENT_ID, source="/alamal/cases", time=AT, subject=FAMILY)


def _headers(record: KafkaRecord, **overrides: bytes | None) -> list[tuple[str, bytes | None]]:
    headers: list[tuple[str, bytes | None]] = [
        (k, v) for k, v in record.headers if k not in overrides
    ]
    return headers + [(k, v) for k, v in overrides.items() if v is not None]


def test_round_trip_restores_attributes_and_data(event: Event) -> None:
    record = to_kafka(event, event_id=EVENT_ID, source="/alamal/intake", time=AT)
    received = from_kafka(record.value, record.headers)
    assert isinstance(received, CloudEvent)
    assert received.data == event
    assert type(received.data) is type(event)
    assert (received.id, received.source, received.type) == (
        EVENT_ID,
        "/alamal/intake",
        type(event).CE_TYPE,
    )
    assert received.time == AT
    assert received.subject is None


def test_record_is_keyed_by_family_and_carries_binary_mode_headers() -> None:
    record = _record()
    assert record.key == FAMILY
    assert record.topic == "cases.case-opened.v1"
    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": EVENT_ID.encode(),
        "ce_source": b"/alamal/cases",
        "ce_type": b"nl.alamal.cases.case-opened.v1",
        "ce_time": b"2025-03-01T09:30:00Z",
        "ce_subject": FAMILY.encode(),
        "content-type": b"application/json",
    }
    assert CaseOpened.model_validate_json(record.value) == make_events()[2]


def test_time_is_written_in_utc_rfc_3339() -> None:
    local = datetime(2025, 3, 1, 10, 30, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    record = to_kafka(make_events()[2], event_id=EVENT_ID, source="/alamal/cases", time=local)
    assert dict(record.headers)["ce_time"] == b"2025-03-01T09:30:00.250000Z"


def test_expect_narrows_the_type_and_rejects_other_events() -> None:
    record = _record()
    received = from_kafka(record.value, record.headers, expect=CaseOpened)
    assert received.data.case_id == make_events()[2].model_dump()["case_id"]
    with pytest.raises(EnvelopeError, match=r"is not nl\.alamal\.cases\.visit-logged\.v1"):
        from_kafka(record.value, record.headers, expect=VisitLogged)


def test_trace_headers_and_other_headers_are_ignored() -> None:
    record = _record()
    headers = [*record.headers, (envelope.TRACEPARENT_HEADER, b"00-abc-def-01"), ("x", b"y")]
    assert from_kafka(record.value, headers).data == make_events()[2]


@pytest.mark.parametrize(
    "header",
    ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
)
def test_missing_required_header_is_an_envelope_error(header: str) -> None:
    record = _record()
    headers = [(k, v) for k, v in record.headers if k != header]
    with pytest.raises(EnvelopeError, match=f"header {header} is missing"):
        from_kafka(record.value, headers)


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("ce_specversion", b"0.3", "must be 1.0"),
        ("ce_time", b"1-March-2025", "RFC 3339"),
        ("ce_time", b"2025-03-01T09:30:00", "RFC 3339"),
        ("ce_time", b"2025-13-01T09:30:00Z", "RFC 3339"),
        ("ce_id", b"", "printable ASCII"),
        ("ce_source", FAKE_NAME.encode(), "printable ASCII"),
        ("ce_id", b"\xff\xfe", "not UTF-8"),
        ("ce_subject", FAKE_NAME.replace(" ", "-").encode(), "entity id"),
        ("content-type", b"text/plain", "application/json"),
    ],
)
def test_invalid_header_is_an_envelope_error_without_its_value(
    header: str, value: bytes, message: str
) -> None:
    record = _record()
    with pytest.raises(EnvelopeError, match=message) as caught:
        from_kafka(record.value, _headers(record, **{header: value}))
    assert "Fatima" not in str(caught.value)
    assert not isinstance(caught.value, EventDataError)


def test_header_without_a_value_or_twice_is_an_envelope_error() -> None:
    record = _record()
    with pytest.raises(EnvelopeError, match="no value"):
        from_kafka(
            record.value, [*[(k, v) for k, v in record.headers if k != "ce_id"], ("ce_id", None)]
        )
    with pytest.raises(EnvelopeError, match="more than once"):
        from_kafka(record.value, [*record.headers, ("ce_type", b"nl.alamal.cases.case-closed.v1")])


def test_content_type_may_carry_a_charset() -> None:
    record = _record()
    headers = _headers(record, **{"content-type": b"application/json; charset=utf-8"})
    assert from_kafka(record.value, headers).data == make_events()[2]


def test_unknown_type_is_an_envelope_error() -> None:
    record = _record()
    future = _headers(record, ce_type=b"nl.alamal.cases.case-opened.v2")
    with pytest.raises(EnvelopeError, match=r"unknown ce_type nl\.alamal\.cases\.case-opened\.v2"):
        from_kafka(record.value, future)
    odd = _headers(record, ce_type=FAKE_NAME.replace(" ", "_").encode())
    with pytest.raises(EnvelopeError, match="malformed") as caught:
        from_kafka(record.value, odd)
    assert "Fatima" not in str(caught.value)


def test_invalid_data_error_lists_locations_and_types_but_never_values() -> None:
    record = _record()
    value = (
        record.value.replace(b'"west"', f'"{FAKE_NAME}"'.encode())
        .replace(b'"case_id"', f'"{FAKE_NAME}": "{FAKE_NAME}", "case_id"'.encode())
        .replace(b'"opened_at":"2025-03-01T09:30:00Z"', f'"opened_at":"{FAKE_NAME}"'.encode())
    )
    assert FAKE_NAME.encode() in value
    with pytest.raises(EventDataError) as caught:
        from_kafka(value, record.headers)
    error = caught.value
    assert isinstance(error, EnvelopeError)
    assert {(p.loc, p.type) for p in error.problems} == {
        ("wijk", "enum"),
        ("opened_at", "datetime_from_date_parsing"),
        ("<unknown>", "extra_forbidden"),
    }
    for text in (str(error), repr(error), repr(error.problems)):
        assert "Fatima" not in text
        assert "Amrani" not in text
    assert error.__cause__ is None
    assert error.__context__ is None


def test_invalid_json_is_an_event_data_error() -> None:
    record = _record()
    with pytest.raises(EventDataError, match="<root>: json_invalid"):
        from_kafka(b'{"family_id": "' + FAKE_NAME.encode(), record.headers)


def test_nested_field_locations_are_kept() -> None:
    family = make_events()[0]
    record = to_kafka(family, event_id=EVENT_ID, source="/alamal/intake", time=AT)
    value = record.value.replace(b'"mother"', f'"{FAKE_NAME}"'.encode())
    with pytest.raises(EventDataError, match=r"member_counts\.0\.role: enum") as caught:
        from_kafka(value, record.headers)
    assert "Fatima" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_id": ""}, "event_id"),
        ({"source": "/alamal/my service"}, "source"),
        ({"time": datetime(2025, 3, 1)}, "timezone-aware"),
        ({"subject": FAKE_NAME}, "subject"),
        ({"dataschema": ""}, "dataschema"),
    ],
)
def test_to_kafka_refuses_invalid_attributes(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"event_id": EVENT_ID, "source": "/alamal/cases", "time": AT}
    arguments.update(kwargs)
    with pytest.raises(EnvelopeError, match=message) as caught:
        to_kafka(make_events()[2], **arguments)  # type: ignore[arg-type]
    assert "Fatima" not in str(caught.value)


def test_dataschema_travels_when_given() -> None:
    record = to_kafka(
        make_events()[2],
        event_id=EVENT_ID,
        source=envelope.source_for("cases"),
        time=datetime(2025, 3, 1, tzinfo=UTC),
        dataschema="urn:alamal:schema:cases.case-opened.v1",
    )
    received = from_kafka(record.value, record.headers)
    assert received.dataschema == "urn:alamal:schema:cases.case-opened.v1"
    assert received.source == "/alamal/cases"
