"""The outbox relay against the real embedded broker (Tansu): order per key, retries, restarts,
CloudEvents headers and trace context (DESIGN decisions 3, 4 and 6)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import from_kafka, source_for
from alamal_contracts.events import CaseOpened
from alamal_runtime.events import emit
from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.relay import OutboxRelay, Send, waves
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.store import OutboxMessage, OutboxRecord, Store
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import Telemetry, setup_telemetry
from alamal_stack.kafka_testing import read_exactly

pytestmark = pytest.mark.integration

SOURCE = source_for("cases")
READ_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def telemetry() -> Iterator[Telemetry]:
    """Providers of this module only: nothing global is changed."""
    providers = setup_telemetry("relay-test", set_global=False)
    yield providers
    providers.shutdown()


@pytest.fixture(scope="module")
async def broker(kafka_bootstrap: str, telemetry: Telemetry) -> AsyncIterator[KafkaBroker]:
    """The runtime's FastStream broker (telemetry middleware included), started once."""
    started = create_broker(kafka_bootstrap, client_id="relay-test", telemetry=telemetry)
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    """A fresh topic per test, created explicitly as the services do."""
    name = f"test.relay-{uuid.uuid4().hex[:12]}.v1"
    await ensure_topics(kafka_bootstrap, [name])
    return name


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An open SQLite store on a fresh file."""
    store = SqliteStore(tmp_path / "cases.sqlite3")
    await store.open()
    yield store
    await store.close()


def kafka_publish(broker: KafkaBroker, topic: str) -> Send:
    """Send outbox messages as the service runtime does, onto this test's own topic."""

    async def send(message: OutboxMessage) -> Awaitable[object]:
        return await broker.publish(
            message.value,
            topic=topic,
            key=message.key.encode("utf-8"),
            headers={name: value.decode("utf-8") for name, value in message.headers},
            no_confirm=True,
        )

    return send


class FlakyPublish:
    """Fails the given calls (1-based) as a lost broker connection would: at hand-over, or (with
    `in_ack`) in the acknowledgement of a message that never reached the broker."""

    def __init__(self, inner: Send, *, fail_calls: set[int], in_ack: bool = False) -> None:
        self._inner = inner
        self._fail_calls = fail_calls
        self._in_ack = in_ack
        self.attempts: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, message: OutboxMessage) -> Awaitable[object]:
        self.attempts.append(message.id)
        if len(self.attempts) in self._fail_calls:
            if not self._in_ack:
                raise KafkaConnectionError("broker unreachable (injected)")
            failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            failed.set_exception(KafkaConnectionError("not acknowledged (injected)"))
            return failed
        ack = await self._inner(message)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

        async def settled() -> object:
            try:
                return await ack
            finally:
                self.in_flight -= 1

        return asyncio.ensure_future(settled())


def case_opened(family_id: str) -> CaseOpened:
    return CaseOpened(
        family_id=family_id,
        case_id=str(uuid.uuid4()),
        trusted_person_id=str(uuid.uuid4()),
        wijk=Wijk.OVERVECHT,
        opened_at=datetime.now(UTC),
    )


async def emit_units(store: Store, units: list[list[str]]) -> list[OutboxMessage]:
    """Emit one event per family id, a unit of work per inner list; return them in commit order."""
    emitted: list[OutboxMessage] = []
    for families in units:
        async with store.transaction() as uow:
            for family_id in families:
                emitted.append(emit(uow, case_opened(family_id), source=SOURCE))
    return emitted


async def read_all(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Read `count` records from the start of `topic`; fail if fewer came or it holds more."""
    return list(await read_exactly(bootstrap, topic, count, within=READ_TIMEOUT))


def ids_by_key(records: list[Any]) -> dict[str, list[str]]:
    """Event ids per Kafka key in consumption order (records of one partition come in order)."""
    by_key: dict[str, list[str]] = {}
    for record in records:
        by_key.setdefault(record.key.decode(), []).append(dict(record.headers)["ce_id"].decode())
    return by_key


def expected_by_key(messages: list[OutboxMessage]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for message in messages:
        by_key.setdefault(message.key, []).append(message.id)
    return by_key


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(check: Callable[[], Awaitable[bool]], *, what: str, within: float) -> None:
    """Poll `check` until true; fail the test naming `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out after {within}s waiting for {what}")


async def backlog_is_empty(store: Store) -> bool:
    return await store.outbox_backlog() == 0


async def test_events_of_one_family_are_published_in_commit_order_then_marked_sent(
    broker: KafkaBroker, kafka_bootstrap: str, topic: str, sqlite_store: SqliteStore
) -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    relay = OutboxRelay(sqlite_store, kafka_publish(broker, topic), batch_size=2, poll_seconds=0.1)
    async with running(relay):
        # Committed while the relay runs: each commit wakes it.
        emitted = await emit_units(sqlite_store, [[a, b], [a], [c, a, b], [b], [a, c], [a]])
        await wait_until(lambda: backlog_is_empty(sqlite_store), what="an empty outbox", within=10)
    records = await read_all(kafka_bootstrap, topic, len(emitted))

    assert ids_by_key(records) == expected_by_key(emitted)
    for family_id in (a, b, c):
        partitions = {r.partition for r in records if r.key == family_id.encode()}
        assert len(partitions) == 1, "one family's events must share one partition"
    assert relay.published == len(emitted)
    assert await sqlite_store.outbox_pending() == []


@pytest.mark.parametrize(
    "fail_calls",
    [pytest.param({1, 2}, id="first-publishes-fail"), pytest.param({3, 4}, id="mid-batch-fails")],
)
async def test_failed_publishes_are_retried_in_order_without_loss_or_duplicates(
    broker: KafkaBroker,
    kafka_bootstrap: str,
    topic: str,
    sqlite_store: SqliteStore,
    fail_calls: set[int],
) -> None:
    family = str(uuid.uuid4())
    emitted = await emit_units(sqlite_store, [[family, family], [family], [family, family]])
    ids = [m.id for m in emitted]
    flaky = FlakyPublish(kafka_publish(broker, topic), fail_calls=fail_calls)
    relay = OutboxRelay(sqlite_store, flaky, poll_seconds=0.1, max_backoff_seconds=0.4)

    async with running(relay):
        await wait_until(lambda: backlog_is_empty(sqlite_store), what="an empty outbox", within=10)
    records = await read_all(kafka_bootstrap, topic, len(emitted))

    assert ids_by_key(records) == {family: ids}
    # The failing message is tried again; messages published before it are not re-sent.
    first_failure = min(fail_calls) - 1
    retried = ids[first_failure]
    expected_attempts = [*ids[:first_failure], *[retried] * len(fail_calls), *ids[first_failure:]]
    assert flaky.attempts == expected_attempts
    assert relay.published == len(emitted)


async def test_a_failed_acknowledgement_holds_back_the_rest_of_its_key_only(
    broker: KafkaBroker, kafka_bootstrap: str, topic: str, sqlite_store: SqliteStore
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    # Commit order a1 b1 a2 b2 a3: waves [a1 b1] [a2 b2] [a3]; the ack of b1 (call 2) fails.
    emitted = await emit_units(sqlite_store, [[a, b], [a, b], [a]])
    flaky = FlakyPublish(kafka_publish(broker, topic), fail_calls={2}, in_ack=True)
    relay = OutboxRelay(sqlite_store, flaky, poll_seconds=0.1, max_backoff_seconds=0.4)

    with pytest.raises(KafkaConnectionError):
        await relay.drain_once()
    # a1 went out in the same wave and is marked sent; nothing after the failed wave was sent.
    assert flaky.attempts == [emitted[0].id, emitted[1].id]
    assert [r.message.id for r in await sqlite_store.outbox_pending()] == [
        m.id for m in emitted[1:]
    ]
    async with running(relay):
        await wait_until(lambda: backlog_is_empty(sqlite_store), what="an empty outbox", within=10)
    records = await read_all(kafka_bootstrap, topic, len(emitted))
    assert ids_by_key(records) == expected_by_key(emitted), "each key in order, none twice"


async def test_a_burst_of_many_families_goes_out_without_awaiting_each_ack(
    broker: KafkaBroker, kafka_bootstrap: str, topic: str, sqlite_store: SqliteStore
) -> None:
    families = [str(uuid.uuid4()) for _ in range(50)]
    emitted = await emit_units(sqlite_store, [families[:25], families[25:], families[:10]])
    counting = FlakyPublish(kafka_publish(broker, topic), fail_calls=set())
    relay = OutboxRelay(sqlite_store, counting)

    assert await relay.drain_once() == len(emitted)

    assert counting.most_in_flight == 50, "one wave: every family's first event in flight at once"
    assert await sqlite_store.outbox_backlog() == 0
    records = await read_all(kafka_bootstrap, topic, len(emitted))
    assert ids_by_key(records) == expected_by_key(emitted)


def test_waves_hold_one_message_per_key_and_keep_each_keys_order() -> None:
    def record(seq: int, key: str) -> OutboxRecord:
        message = OutboxMessage(id=f"e-{seq}", topic="t", key=key, value=b"")
        return OutboxRecord(seq=seq, message=message, created_at=datetime.now(UTC))

    keys = ["a", "b", "a", "c", "a", "b"]
    found = waves([record(seq, key) for seq, key in enumerate(keys)])
    assert [[r.seq for r in wave] for wave in found] == [[0, 1, 3], [2, 5], [4]]
    assert waves([]) == []


async def test_outbox_rows_committed_without_a_relay_are_published_after_a_restart(
    broker: KafkaBroker, kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    path = tmp_path / "cases.sqlite3"
    family = str(uuid.uuid4())
    before = SqliteStore(path)
    await before.open()
    emitted = await emit_units(before, [[family], [family, family]])
    await before.close()

    after = SqliteStore(path)
    await after.open()
    try:
        assert await after.outbox_backlog() == len(emitted)
        relay = OutboxRelay(after, kafka_publish(broker, topic), poll_seconds=0.1)
        async with running(relay):
            await wait_until(lambda: backlog_is_empty(after), what="an empty outbox", within=10)
    finally:
        await after.close()
    records = await read_all(kafka_bootstrap, topic, len(emitted))
    assert ids_by_key(records) == {family: [m.id for m in emitted]}

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.outbox_backlog() == 0, "sent marks must survive a restart"
    finally:
        await reopened.close()


async def test_published_record_carries_cloudevents_headers_and_the_emitters_trace(
    broker: KafkaBroker,
    kafka_bootstrap: str,
    topic: str,
    sqlite_store: SqliteStore,
    telemetry: Telemetry,
) -> None:
    event = case_opened(str(uuid.uuid4()))
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("register family") as span:
        async with sqlite_store.transaction() as uow:
            message = emit(uow, event, source=SOURCE)
        trace_id = format(span.get_span_context().trace_id, "032x")
    relay = OutboxRelay(
        sqlite_store,
        kafka_publish(broker, topic),
        tracer=telemetry.tracer_provider.get_tracer("alamal.outbox"),
    )

    assert await relay.drain_once() == 1
    [record] = await read_all(kafka_bootstrap, topic, 1)

    headers = {name: value.decode() for name, value in record.headers}
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == message.id
    assert headers["ce_type"] == CaseOpened.CE_TYPE
    assert headers["ce_source"] == SOURCE
    assert headers["content-type"] == "application/json"
    assert "ce_time" in headers
    version, traced, _span_id, _flags = headers["traceparent"].split("-")
    assert (version, traced) == ("00", trace_id)
    assert record.key == event.family_id.encode()
    received = from_kafka(record.value, record.headers)
    assert received.data == event
    assert received.id == message.id
    assert await sqlite_store.outbox_backlog() == 0
