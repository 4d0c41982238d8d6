"""Batch consumers: one unit of work per batch, a poison event isolated, redelivery from where
a batch stopped, and one trace per event.

The unit cases drive BatchProcessor with a real SQLite store and a list-backed dead-letter sink;
`test_batch_consumer_kafka.py` runs the batches against the real embedded broker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import CloudEvent, KafkaRecord, source_for, to_kafka
from alamal_contracts.events import CaseOpened, FamilyErasureRequested
from alamal_contracts.topics import FAMILY_ERASURE_REQUESTED
from alamal_runtime.events import emit
from alamal_runtime.messaging.batch import BatchProcessor, Redeliver
from alamal_runtime.messaging.consumer import Delivery, EventProcessor, Handler, Outcome
from alamal_runtime.messaging.dead_letter import DeadLetter
from alamal_runtime.messaging.subscribe import first_not_done
from alamal_runtime.store import StoreUnavailableError, UnitOfWork
from alamal_runtime.store.sqlite import SqliteStore

TOPIC = "cases.case-opened.v1"
OTHER_TOPIC = "cases.case-closed.v1"
LEDGER = "ledger"
PLANTED_NAME = "Fatima El Amrani"
F1, F2 = str(uuid.uuid4()), str(uuid.uuid4())


class ListSink:
    """A dead-letter sink that keeps letters in memory; can be told to fail."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.down = False

    async def send(self, letter: DeadLetter) -> None:
        if self.down:
            raise ConnectionError("dead-letter topic unreachable")
        self.letters.append(letter)


class HandlerError(Exception):
    """Raised on purpose by a test handler."""


def opened(family_id: str) -> CaseOpened:
    return CaseOpened(
        family_id=family_id,
        case_id=str(uuid.uuid4()),
        trusted_person_id=str(uuid.uuid4()),
        wijk=Wijk.ZUID,
        opened_at=datetime.now(UTC),
    )


def record_of(event: CaseOpened, event_id: str | None = None) -> KafkaRecord:
    return to_kafka(
        event,
        event_id=event_id or str(uuid.uuid4()),
        source=source_for("cases"),
        time=datetime.now(UTC),
    )


def deliveries_of(
    records: Sequence[KafkaRecord | tuple[bytes, list[tuple[str, bytes | None]]]],
    *,
    topic: str = TOPIC,
    traceparents: Sequence[str] | None = None,
) -> list[Delivery]:
    """Deliveries at offsets 0, 1, 2, ... of one partition; raw (value, headers) pairs too."""
    found = []
    for offset, record in enumerate(records):
        if isinstance(record, KafkaRecord):
            value, headers = record.value, list(record.headers)
        else:
            value, headers = record
        if traceparents is not None:
            headers = [*headers, ("traceparent", traceparents[offset].encode())]
        found.append(Delivery(topic, 0, offset, b"family", value, tuple(headers)))
    return found


async def ledger(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """A deliberately non-idempotent effect: append the case id to the family's ledger, and
    emit an event, so doubled handling shows and every commit that emitted is counted."""
    data = event.data
    current = await uow.get(LEDGER, data.family_id)
    if current is None:
        await uow.insert(LEDGER, data.family_id, {"cases": [data.case_id]})
    else:
        cases = [*current.data["cases"], data.case_id]
        await uow.replace(
            LEDGER, data.family_id, {"cases": cases}, expected_version=current.version
        )
    emit(uow, data, source=source_for("reporting"))


def failing_for(case_ids: set[str], attempts: dict[str, int]) -> Handler:
    """The ledger handler, raising for the given cases; counts attempts per case."""

    async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        case_id = event.data.case_id
        attempts[case_id] = attempts.get(case_id, 0) + 1
        if case_id in case_ids:
            raise HandlerError(f"cannot place {PLANTED_NAME}")
        await ledger(event, uow)

    return handler


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened_store = SqliteStore(tmp_path / "reporting.sqlite3")
    await opened_store.open()
    yield opened_store
    await opened_store.close()


def batch_of(
    store: SqliteStore,
    sink: ListSink,
    handler: Handler = ledger,
    *,
    topics: Sequence[str] = (TOPIC,),
    tracer: trace.Tracer | None = None,
) -> BatchProcessor:
    processors = {
        topic: EventProcessor(
            store=store,
            consumer="reporting",
            handler=handler,
            dead_letters=sink,
            retries=1,
            retry_backoff_seconds=0.001,
            unavailable_pause_seconds=0.001,
        )
        for topic in topics
    }
    return BatchProcessor(processors, tracer=tracer, unavailable_pause_seconds=0.001)


async def ledger_of(store: SqliteStore, family_id: str) -> list[str]:
    found = await store.get(LEDGER, family_id)
    return [] if found is None else list(found.data["cases"])


async def test_a_batch_is_handled_in_order_in_one_commit(store: SqliteStore) -> None:
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))
    events = [opened(F1) for _ in range(20)]
    batch = batch_of(store, ListSink())

    outcomes = await batch.process(deliveries_of([record_of(e) for e in events]))

    assert outcomes == [Outcome.HANDLED] * 20
    assert await ledger_of(store, F1) == [e.case_id for e in events]
    assert commits == [1], "twenty events, one unit of work"
    assert await store.outbox_backlog() == 20


async def test_duplicates_in_and_across_batches_are_handled_once(store: SqliteStore) -> None:
    first, second, third = opened(F1), opened(F1), opened(F1)
    records = [record_of(first, "id-1"), record_of(second, "id-2")]
    batch = batch_of(store, ListSink())
    assert await batch.process(deliveries_of(records)) == [Outcome.HANDLED, Outcome.HANDLED]

    again = [records[1], record_of(third, "id-3"), record_of(third, "id-3"), records[0]]
    outcomes = await batch.process(deliveries_of(again))

    assert outcomes == [Outcome.DUPLICATE, Outcome.HANDLED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert await ledger_of(store, F1) == [first.case_id, second.case_id, third.case_id]


async def test_a_poison_event_is_dead_lettered_alone_and_the_rest_keep_their_order(
    store: SqliteStore,
) -> None:
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))
    events = [opened(F1) for _ in range(5)]
    poison = events[2]
    attempts: dict[str, int] = {}
    sink = ListSink()
    records = [record_of(e) for e in events]
    batch = batch_of(store, sink, failing_for({poison.case_id}, attempts))

    outcomes = await batch.process(deliveries_of(records))

    assert outcomes == [Outcome.HANDLED] * 2 + [Outcome.DEAD_LETTERED] + [Outcome.HANDLED] * 2
    assert await ledger_of(store, F1) == [e.case_id for e in events if e is not poison]
    # Once in the batch, then the single-event attempts (retries=1): 1 + 2.
    assert attempts[poison.case_id] == 3
    assert attempts[events[0].case_id] == 2, "the failed unit, then again with the next one"
    assert attempts[events[4].case_id] == 1
    assert commits == [1, 1], "the two before the poison together, the two after it together"
    [letter] = sink.letters
    assert letter.value == records[2].value
    assert letter.source_offset == 2
    assert letter.reason.startswith("handler failed after 2 attempts: HandlerError")
    assert PLANTED_NAME not in letter.reason
    assert await store.outbox_backlog() == 4, "the rolled-back batch left no outbox rows"


async def test_a_malformed_record_is_dead_lettered_alone_and_the_rest_handled_together(
    store: SqliteStore,
) -> None:
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))
    good = [opened(F1) for _ in range(3)]
    malformed = (
        f'{{"first_name": "{PLANTED_NAME}"}}'.encode(),
        [("ce_specversion", b"1.0"), ("ce_type", b"nl.alamal.unknown.v1")],
    )
    sink = ListSink()
    batch = batch_of(store, sink)
    records = [record_of(good[0]), malformed, record_of(good[1]), record_of(good[2])]

    outcomes = await batch.process(deliveries_of(records))

    assert outcomes == [Outcome.HANDLED, Outcome.DEAD_LETTERED, Outcome.HANDLED, Outcome.HANDLED]
    assert await ledger_of(store, F1) == [e.case_id for e in good]
    assert commits == [1]
    [letter] = sink.letters
    assert letter.source_offset == 1
    assert letter.reason.startswith("invalid event")
    assert PLANTED_NAME not in letter.reason


async def test_a_store_outage_in_a_batch_redelivers_all_of_it(store: SqliteStore) -> None:
    events = [opened(F1) for _ in range(4)]
    calls: list[str] = []

    async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        calls.append(event.data.case_id)
        if len(calls) == 3:
            raise StoreUnavailableError("store went away")
        await ledger(event, uow)

    sink = ListSink()
    with pytest.raises(Redeliver) as raised:
        await batch_of(store, sink, handler).process(deliveries_of([record_of(e) for e in events]))

    assert raised.value.index == 0
    assert await ledger_of(store, F1) == [], "the whole unit of work rolled back"
    assert sink.letters == []


async def test_an_outage_after_a_poison_redelivers_from_the_first_event_not_done(
    store: SqliteStore,
) -> None:
    events = [opened(F1) for _ in range(4)]
    poison, outage = events[0], events[2]
    attempts: dict[str, int] = {}

    async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        case_id = event.data.case_id
        attempts[case_id] = attempts.get(case_id, 0) + 1
        if case_id == poison.case_id:
            raise HandlerError("poison")
        if case_id == outage.case_id and attempts[case_id] == 1:
            raise StoreUnavailableError("store went away")
        await ledger(event, uow)

    sink = ListSink()
    batch = batch_of(store, sink, handler)
    deliveries = deliveries_of([record_of(e) for e in events])
    with pytest.raises(Redeliver) as raised:
        await batch.process(deliveries)
    # The poison was dead-lettered alone; the rest went on as one unit, which the outage undid.
    assert raised.value.index == 1
    assert len(sink.letters) == 1
    assert await ledger_of(store, F1) == []

    # The subscriber rewinds to the first event not done; Kafka delivers the rest again.
    assert first_not_done(deliveries[raised.value.index :]) == {TopicPartition(TOPIC, 0): 1}
    outcomes = await batch.process(deliveries[raised.value.index :])
    assert outcomes == [Outcome.HANDLED] * 3
    assert await ledger_of(store, F1) == [e.case_id for e in events[1:]]
    assert len(sink.letters) == 1, "the poison was not dead-lettered twice"


async def test_an_outage_while_an_event_is_retried_alone_redelivers_from_it(
    store: SqliteStore,
) -> None:
    events = [opened(F1) for _ in range(3)]
    flaky = events[1]
    attempts: dict[str, int] = {}

    async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        case_id = event.data.case_id
        attempts[case_id] = attempts.get(case_id, 0) + 1
        if case_id == flaky.case_id and attempts[case_id] == 1:
            raise HandlerError("first time")
        if case_id == flaky.case_id and attempts[case_id] == 2:
            raise StoreUnavailableError("store went away")
        await ledger(event, uow)

    batch = batch_of(store, ListSink(), handler)
    deliveries = deliveries_of([record_of(e) for e in events])
    with pytest.raises(Redeliver) as raised:
        await batch.process(deliveries)
    assert raised.value.index == 1
    assert await ledger_of(store, F1) == [events[0].case_id], "the event before it is done"
    assert await batch.process(deliveries[1:]) == [Outcome.HANDLED] * 2
    assert await ledger_of(store, F1) == [e.case_id for e in events]


async def test_an_unreachable_dead_letter_topic_redelivers_from_the_malformed_record(
    store: SqliteStore,
) -> None:
    good = [opened(F1) for _ in range(2)]
    malformed = (b"not json", [("ce_specversion", b"1.0")])
    sink = ListSink()
    sink.down = True
    batch = batch_of(store, sink)
    deliveries = deliveries_of([record_of(good[0]), malformed, record_of(good[1])])

    with pytest.raises(Redeliver) as raised:
        await batch.process(deliveries)

    assert raised.value.index == 1
    assert await ledger_of(store, F1) == [e.case_id for e in good]
    sink.down = False
    outcomes = await batch.process(deliveries[1:])
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DUPLICATE]
    assert len(sink.letters) == 1


async def test_a_batch_spans_topics_each_handled_by_its_own_processor(store: SqliteStore) -> None:
    first, second = opened(F1), opened(F2)
    batch = batch_of(store, ListSink(), topics=(TOPIC, OTHER_TOPIC))
    deliveries = [
        *deliveries_of([record_of(first)]),
        *deliveries_of([record_of(second)], topic=OTHER_TOPIC),
    ]
    assert await batch.process(deliveries) == [Outcome.HANDLED, Outcome.HANDLED]
    assert await ledger_of(store, F1) == [first.case_id]
    assert await ledger_of(store, F2) == [second.case_id]


async def test_processors_on_different_stores_cannot_share_a_batch(
    store: SqliteStore, tmp_path: Path
) -> None:
    other = SqliteStore(tmp_path / "other.sqlite3")
    sink = ListSink()
    processors = {
        TOPIC: EventProcessor(store=store, consumer="r", handler=ledger, dead_letters=sink),
        OTHER_TOPIC: EventProcessor(store=other, consumer="r", handler=ledger, dead_letters=sink),
    }
    with pytest.raises(ValueError, match="one store"):
        BatchProcessor(processors)


async def test_each_event_of_a_batch_continues_its_own_trace(store: SqliteStore) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    parents = [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in range(3)]
    batch = batch_of(store, ListSink(), tracer=tracer)
    events = [opened(F1) for _ in range(3)]

    await batch.process(deliveries_of([record_of(e) for e in events], traceparents=parents))

    spans = [s for s in exporter.get_finished_spans() if s.name == f"{TOPIC} process"]
    assert len(spans) == 3
    for span, parent in zip(spans, parents, strict=True):
        _, trace_id, span_id, _ = parent.split("-")
        assert span.context is not None
        assert f"{span.context.trace_id:032x}" == trace_id
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == span_id
    # What a handler emits carries its event's trace on to the next service.
    pending = await store.outbox_pending()
    for record, parent in zip(pending, parents, strict=True):
        carried = propagate.extract(dict(record.message.trace_carrier))
        context = trace.get_current_span(carried).get_span_context()
        assert f"{context.trace_id:032x}" == parent.split("-")[1]


def test_first_not_done_rewinds_each_partition_to_its_lowest_offset() -> None:
    rest = [
        Delivery(TOPIC, 1, 7, None, b"", ()),
        Delivery(TOPIC, 0, 3, None, b"", ()),
        Delivery(TOPIC, 1, 8, None, b"", ()),
        Delivery(OTHER_TOPIC, 1, 2, None, b"", ()),
    ]
    assert first_not_done(rest) == {
        TopicPartition(TOPIC, 1): 7,
        TopicPartition(TOPIC, 0): 3,
        TopicPartition(OTHER_TOPIC, 1): 2,
    }
    assert first_not_done([]) == {}


async def test_an_erasure_is_handled_alone_after_the_events_before_it_committed(
    store: SqliteStore,
) -> None:
    seen: list[list[str]] = []

    async def eraser(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        # An erasure finds what the service holds in its committed state, outside the unit.
        seen.append(await ledger_of(store, event.data.family_id))
        await uow.delete(LEDGER, event.data.family_id)
        emit(uow, event.data, source=source_for("reporting"))  # its commit is counted too

    sink = ListSink()
    processors = {
        topic: EventProcessor(
            store=store, consumer="reporting", handler=handler, dead_letters=sink, retries=1
        )
        for topic, handler in ((TOPIC, ledger), (FAMILY_ERASURE_REQUESTED, eraser))
    }
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))
    before, after = [opened(F1), opened(F1)], opened(F1)
    erasure = to_kafka(
        FamilyErasureRequested(family_id=F1, request_id=str(uuid.uuid4())),
        event_id=str(uuid.uuid4()),
        source=source_for("intake"),
        time=datetime.now(UTC),
    )
    cases = deliveries_of([record_of(e) for e in [*before, after]])
    deliveries = [*cases[:2], *deliveries_of([erasure], topic=FAMILY_ERASURE_REQUESTED), cases[2]]

    outcomes = await BatchProcessor(processors).process(deliveries)

    assert outcomes == [Outcome.HANDLED] * 4
    assert seen == [[e.case_id for e in before]], "the erasure saw what came before it"
    assert await ledger_of(store, F1) == [after.case_id]
    assert len(commits) == 3, "before it together, the erasure alone, then the rest"
