"""Inbox-backed consumers: once-in-effect handling, retries, dead letters and store outages.

The unit cases drive EventProcessor with a real SQLite store and a list-backed dead-letter sink;
the round trips run FastStream `subscribe` against the real embedded broker (Tansu).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import CloudEvent, KafkaRecord, source_for, to_kafka
from alamal_contracts.events import CaseOpened
from alamal_runtime.messaging import dead_letter as dlq
from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.consumer import Delivery, EventProcessor, Handler, Outcome
from alamal_runtime.messaging.dead_letter import DeadLetter, KafkaDeadLetterSink
from alamal_runtime.messaging.subscribe import subscribe
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.store import StoreUnavailableError, UnitOfWork
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.kafka_testing import read_exactly

CONSUMER = "reporting"
CASES = "cases"
PLANTED_NAME = "Fatima El Amrani"
TIMEOUT = 20.0

type Headers = list[tuple[str, bytes | None]]


class ListSink:
    """A dead-letter sink that keeps letters in memory (unit cases only)."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


class HandlerError(Exception):
    """Raised on purpose by a test handler."""


def case_opened(family_id: str | None = None) -> CaseOpened:
    return CaseOpened(
        family_id=family_id or str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        trusted_person_id=str(uuid.uuid4()),
        wijk=Wijk.ZUID,
        opened_at=datetime.now(UTC),
    )


def record_of(event: CaseOpened, event_id: str | None = None) -> KafkaRecord:
    return to_kafka(
        event,
        event_id=event_id or str(uuid.uuid4()),
        source=source_for(CASES),
        time=datetime.now(UTC),
    )


def delivery_of(record: KafkaRecord, *, offset: int = 0) -> Delivery:
    return Delivery(
        topic=record.topic,
        partition=0,
        offset=offset,
        key=record.key.encode(),
        value=record.value,
        headers=record.headers,
    )


async def record_case(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """The effect under test: one document per handled event."""
    await uow.insert(CASES, event.data.case_id, {"event_id": event.id})


def ce_headers(ce_type: str = CaseOpened.CE_TYPE) -> Headers:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"/alamal/cases"),
        ("ce_type", ce_type.encode()),
        ("ce_time", b"2025-03-01T09:30:00Z"),
        ("content-type", b"application/json"),
    ]


def schema_invalid_value() -> bytes:
    event = case_opened()
    body = event.model_dump_json()[:-1]
    # A name where an id belongs, and an unexpected field named after and holding a person.
    return (
        body.replace(event.case_id, PLANTED_NAME)
        + f', "{PLANTED_NAME}": "{PLANTED_NAME}", "first_name": "{PLANTED_NAME}"}}'
    ).encode()


# (value, headers) pairs no consumer can handle; each carries the planted name somewhere.
MALFORMED: dict[str, tuple[bytes, Headers]] = {
    "not-json": (f"{PLANTED_NAME}, 12 Kanaleneiland".encode(), ce_headers()),
    "missing-ce-headers": (
        f'{{"first_name": "{PLANTED_NAME}"}}'.encode(),
        [("x-origin", b"manual"), ("ce_id", str(uuid.uuid4()).encode())],
    ),
    "schema-invalid": (schema_invalid_value(), [*ce_headers(), ("x-origin", b"manual")]),
    "unknown-type": (b"{}", ce_headers(ce_type=PLANTED_NAME.replace(" ", "-"))),
}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "reporting.sqlite3")
    await store.open()
    yield store
    await store.close()


def processor_for(
    store: SqliteStore,
    handler: Handler,
    sink: ListSink | KafkaDeadLetterSink,
    *,
    consumer: str = CONSUMER,
    retries: int = 2,
) -> EventProcessor:
    return EventProcessor(
        store=store,
        consumer=consumer,
        handler=handler,
        dead_letters=sink,
        retries=retries,
        retry_backoff_seconds=0.001,
        unavailable_pause_seconds=0.001,
    )


# --- unit cases: EventProcessor with a real SQLite store -------------------------------------


async def test_a_redelivered_event_changes_the_store_once(sqlite_store: SqliteStore) -> None:
    sink = ListSink()
    processor = processor_for(sqlite_store, record_case, sink)
    record = record_of(case_opened())

    assert await processor.process(delivery_of(record, offset=7)) is Outcome.HANDLED
    assert await processor.process(delivery_of(record, offset=7)) is Outcome.DUPLICATE
    # Same event id published twice (e.g. by a relay that crashed before marking it sent).
    assert await processor.process(delivery_of(record, offset=8)) is Outcome.DUPLICATE

    assert len(await sqlite_store.find(CASES)) == 1
    assert sink.letters == []


async def test_the_inbox_is_kept_per_consumer(sqlite_store: SqliteStore) -> None:
    record = record_of(case_opened())
    sink = ListSink()

    async def noop(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        return None

    first = processor_for(sqlite_store, record_case, sink, consumer="reporting")
    second = processor_for(sqlite_store, noop, sink, consumer="notifications")
    assert await first.process(delivery_of(record)) is Outcome.HANDLED
    assert await second.process(delivery_of(record)) is Outcome.HANDLED


@pytest.mark.parametrize("kind", sorted(MALFORMED))
async def test_a_malformed_record_is_dead_lettered_without_personal_data_in_the_reason(
    sqlite_store: SqliteStore, kind: str
) -> None:
    value, headers = MALFORMED[kind]
    sink = ListSink()
    processor = processor_for(sqlite_store, record_case, sink)
    delivery = Delivery(
        topic="cases.case-opened.v1",
        partition=2,
        offset=41,
        key=b"some-key",
        value=value,
        headers=tuple(headers),
    )

    assert await processor.process(delivery) is Outcome.DEAD_LETTERED

    [letter] = sink.letters
    assert letter.value == value
    assert letter.headers == tuple(headers)
    assert letter.key == b"some-key"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "cases.case-opened.v1",
        2,
        41,
    )
    assert letter.consumer == CONSUMER
    assert letter.reason.startswith("invalid event")
    assert "Fatima" not in letter.reason
    assert "Amrani" not in letter.reason
    assert await sqlite_store.find(CASES) == []


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(
    sqlite_store: SqliteStore,
) -> None:
    attempts = 0

    async def failing(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await record_case(event, uow)
        raise HandlerError(f"no partner for {PLANTED_NAME}")

    sink = ListSink()
    record = record_of(case_opened())
    processor = processor_for(sqlite_store, failing, sink, retries=2)

    assert await processor.process(delivery_of(record, offset=3)) is Outcome.DEAD_LETTERED

    assert attempts == 3
    [letter] = sink.letters
    assert letter.reason.startswith("handler failed after 3 attempts")
    assert "HandlerError" in letter.reason
    assert "Fatima" not in letter.reason, "exception messages may carry personal data"
    assert letter.value == record.value
    assert letter.headers == record.headers
    assert letter.source_offset == 3
    # Every failed attempt rolled back its effect and its inbox claim.
    assert await sqlite_store.find(CASES) == []
    working = processor_for(sqlite_store, record_case, ListSink())
    assert await working.process(delivery_of(record)) is Outcome.HANDLED


async def test_a_handler_that_fails_once_is_retried_and_has_one_effect(
    sqlite_store: SqliteStore,
) -> None:
    attempts = 0

    async def flaky(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await record_case(event, uow)
        if attempts == 1:
            raise HandlerError("first attempt fails")

    sink = ListSink()
    processor = processor_for(sqlite_store, flaky, sink, retries=2)

    assert await processor.process(delivery_of(record_of(case_opened()))) is Outcome.HANDLED
    assert attempts == 2
    assert len(await sqlite_store.find(CASES)) == 1
    assert sink.letters == []


async def test_an_unavailable_store_raises_so_the_message_is_not_acknowledged(
    sqlite_store: SqliteStore,
) -> None:
    attempts = 0

    async def store_down(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        raise StoreUnavailableError("connection refused")

    sink = ListSink()
    processor = processor_for(sqlite_store, store_down, sink)

    with pytest.raises(StoreUnavailableError):
        await processor.process(delivery_of(record_of(case_opened())))
    assert attempts == 1, "an outage is not the handler's fault: no retries, no dead letter"
    assert sink.letters == []


async def test_a_closed_store_raises_and_dead_letters_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "closed.sqlite3")
    await store.open()
    await store.close()
    sink = ListSink()
    processor = processor_for(store, record_case, sink)

    with pytest.raises(StoreUnavailableError):
        await processor.process(delivery_of(record_of(case_opened())))
    assert sink.letters == []


def test_dead_letter_headers_keep_the_originals_and_encode_binary_and_null_values() -> None:
    letter = DeadLetter(
        consumer=CONSUMER,
        source_topic="cases.case-opened.v1",
        source_partition=1,
        source_offset=99,
        key=None,
        value=b"",
        headers=(("ce_id", b"abc"), ("raw", b"\x00\xff"), ("empty", None)),
        reason="invalid event: header ce_type is missing",
    )
    now = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

    headers = dlq.dead_letter_headers(letter, now=now)

    assert headers == {
        "ce_id": "abc",
        "dlq-b64-raw": "AP8=",
        "dlq-null-empty": "",
        dlq.REASON: "invalid event: header ce_type is missing",
        dlq.SOURCE_TOPIC: "cases.case-opened.v1",
        dlq.SOURCE_PARTITION: "1",
        dlq.SOURCE_OFFSET: "99",
        dlq.CONSUMER: CONSUMER,
        dlq.FAILED_AT: "2025-03-01T09:30:00+00:00",
    }


# --- round trips through the real embedded broker --------------------------------------------


class RecordingProcessor(EventProcessor):
    """An EventProcessor that remembers what became of each delivery, by offset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes: list[tuple[int, str]] = []

    async def process(self, delivery: Delivery) -> Outcome:
        try:
            outcome = await super().process(delivery)
        except StoreUnavailableError:
            self.outcomes.append((delivery.offset, "store-unavailable"))
            raise
        self.outcomes.append((delivery.offset, outcome.value))
        return outcome


@pytest.fixture
async def topics(kafka_bootstrap: str) -> tuple[str, str]:
    """A fresh event topic and dead-letter topic per test."""
    suffix = uuid.uuid4().hex[:12]
    pair = (f"test.events-{suffix}.v1", f"test-{suffix}.dead-letter.v1")
    await ensure_topics(kafka_bootstrap, pair)
    return pair


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[Any]:
    started = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await started.start()
    yield started
    await started.stop()


async def running_consumer(
    bootstrap: str, topic: str, dead_letter_topic: str, store: SqliteStore, handler: Handler
) -> tuple[KafkaBroker, RecordingProcessor]:
    """A started FastStream broker consuming `topic` through a RecordingProcessor."""
    broker = create_broker(
        bootstrap, client_id="consumer-test", telemetry=setup_telemetry("t", set_global=False)
    )
    processor = RecordingProcessor(
        store=store,
        consumer=CONSUMER,
        handler=handler,
        dead_letters=KafkaDeadLetterSink(broker, dead_letter_topic),
        retries=1,
        retry_backoff_seconds=0.01,
        unavailable_pause_seconds=0.05,
    )
    subscribe(
        broker,
        topic=topic,
        group_id=f"test-{uuid.uuid4().hex}",
        processor=processor,
        session_timeout_ms=3000,
    )
    await broker.start()
    return broker, processor


async def send(producer: Any, topic: str, record: KafkaRecord | None = None, **raw: Any) -> Any:
    """Produce an event record, or a raw one (value/key/headers given); return its metadata."""
    if record is not None:
        raw = {"value": record.value, "key": record.key.encode(), "headers": list(record.headers)}
    return await producer.send_and_wait(topic, **raw)


async def wait_until(check: Callable[[], Awaitable[bool]], *, what: str) -> None:
    """Poll `check` until true; fail the test naming `what` after TIMEOUT seconds."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out after {TIMEOUT}s waiting for {what}")


async def read_dead_letters(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Read `count` records from the start of `topic`; fail if fewer came or it holds more."""
    return list(await read_exactly(bootstrap, topic, count, within=TIMEOUT))


async def has_case(store: SqliteStore, event: CaseOpened) -> bool:
    return await store.get(CASES, event.case_id) is not None


@pytest.mark.integration
async def test_round_trip_duplicates_and_malformed_records_then_the_consumer_goes_on(
    kafka_bootstrap: str,
    topics: tuple[str, str],
    producer: Any,
    sqlite_store: SqliteStore,
) -> None:
    topic, dead_letter_topic = topics
    family = str(uuid.uuid4())
    first, last = case_opened(family), case_opened(family)
    first_record = record_of(first)
    broker, _processor = await running_consumer(
        kafka_bootstrap, topic, dead_letter_topic, sqlite_store, record_case
    )
    try:
        # One key, so one partition: the consumer sees the records in this order.
        await send(producer, topic, first_record)
        await send(producer, topic, first_record)  # a duplicate
        unusable: list[tuple[bytes | None, Headers]] = [
            *MALFORMED.values(),
            (b"not json either", [("x-null-header", None), *ce_headers()]),
            (None, [("x-origin", b"tombstone"), ("x-binary", b"\xff\xfe")]),
        ]
        bad: list[tuple[Any, bytes | None, Headers]] = []
        for value, headers in unusable:
            metadata = await send(
                producer, topic, value=value, key=family.encode(), headers=headers
            )
            bad.append((metadata, value, headers))
        await send(producer, topic, record_of(last))

        await wait_until(lambda: has_case(sqlite_store, last), what="the event after bad ones")
    finally:
        await broker.stop()

    # A second handling of the duplicate would fail on the existing case and be dead-lettered:
    # the exact count of dead letters below shows it was recognised as a duplicate.
    assert [r.id for r in await sqlite_store.find(CASES)] == sorted([first.case_id, last.case_id])

    letters = await read_dead_letters(kafka_bootstrap, dead_letter_topic, len(bad))
    by_offset = {int(dict(letter.headers)[dlq.SOURCE_OFFSET]): letter for letter in letters}
    for metadata, value, headers in bad:
        letter = by_offset[metadata.offset]
        received = dict(letter.headers)
        assert letter.value == value, "the original value is kept byte for byte"
        assert letter.key == family.encode()
        for name, original in headers:
            if original is None:
                assert received[f"dlq-null-{name}"] == b""
            elif original == b"\xff\xfe":
                assert received[f"dlq-b64-{name}"] == base64.b64encode(original)
            else:
                assert received[name] == original, f"original header {name} kept"
        reason = received[dlq.REASON].decode()
        assert reason.startswith("invalid event")
        assert "Fatima" not in reason
        assert "Amrani" not in reason
        assert received[dlq.SOURCE_TOPIC] == topic.encode()
        assert received[dlq.SOURCE_PARTITION] == str(metadata.partition).encode()
        assert received[dlq.CONSUMER] == CONSUMER.encode()


@pytest.mark.integration
async def test_round_trip_failing_handler_is_dead_lettered_and_an_outage_is_redelivered(
    kafka_bootstrap: str,
    topics: tuple[str, str],
    producer: Any,
    sqlite_store: SqliteStore,
) -> None:
    topic, dead_letter_topic = topics
    family = str(uuid.uuid4())
    poison, outage, last = case_opened(family), case_opened(family), case_opened(family)
    attempts: dict[str, int] = {}

    async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        case_id = event.data.case_id
        attempts[case_id] = attempts.get(case_id, 0) + 1
        if case_id == poison.case_id:
            raise HandlerError(f"cannot place {PLANTED_NAME}")
        if case_id == outage.case_id and attempts[case_id] == 1:
            raise StoreUnavailableError("store went away")
        await record_case(event, uow)

    broker, _processor = await running_consumer(
        kafka_bootstrap, topic, dead_letter_topic, sqlite_store, handler
    )
    try:
        poison_record = record_of(poison)
        poison_at = await send(producer, topic, poison_record)
        await send(producer, topic, record_of(outage))
        await send(producer, topic, record_of(last))
        await wait_until(lambda: has_case(sqlite_store, last), what="the last event")
    finally:
        await broker.stop()

    # Retried once (retries=1), then dead-lettered; when the poison came in a batch with the
    # others, that batch's attempt counts too. The outage was not acknowledged, so Kafka
    # delivered the event again and it was handled then.
    assert attempts[poison.case_id] in (2, 3)
    assert attempts[outage.case_id] == 2
    assert {r.id for r in await sqlite_store.find(CASES)} == {outage.case_id, last.case_id}

    [letter] = await read_dead_letters(kafka_bootstrap, dead_letter_topic, 1)
    received = dict(letter.headers)
    assert letter.value == poison_record.value
    assert received["ce_id"] == dict(poison_record.headers)["ce_id"]
    assert int(received[dlq.SOURCE_OFFSET]) == poison_at.offset
    reason = received[dlq.REASON].decode()
    assert reason.startswith("handler failed after 2 attempts")
    assert "HandlerError" in reason
    assert "Fatima" not in reason
