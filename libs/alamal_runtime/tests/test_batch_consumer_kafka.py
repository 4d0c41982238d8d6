"""Batch consumers against the real embedded broker (Tansu): a backlog handled in batches with a
poison event and a malformed record in it, and kill -9 of a consumer process in the middle of a
batch (nothing acknowledged lost, nothing applied twice)."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import CloudEvent, KafkaRecord, source_for, to_kafka
from alamal_contracts.events import CaseOpened
from alamal_runtime.messaging import dead_letter as dlq
from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.consumer import EventProcessor
from alamal_runtime.messaging.dead_letter import KafkaDeadLetterSink
from alamal_runtime.messaging.subscribe import subscribe
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.store import OutboxMessage, UnitOfWork
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.kafka_testing import read_exactly

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("batch_consumer_child.py")
LEDGER = "ledger"
TIMEOUT = 60.0


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


def record_of(event: CaseOpened) -> KafkaRecord:
    return to_kafka(
        event, event_id=str(uuid.uuid4()), source=source_for("cases"), time=datetime.now(UTC)
    )


@pytest.fixture
async def topics(kafka_bootstrap: str) -> tuple[str, str]:
    """A fresh three-partition event topic and its dead-letter topic."""
    suffix = uuid.uuid4().hex[:12]
    pair = (f"test.batch-{suffix}.v1", f"test-batch-{suffix}.dead-letter.v1")
    await ensure_topics(kafka_bootstrap, pair, partitions=3)
    return pair


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    started = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=5
    )
    await started.start()
    yield started
    await started.stop()


async def produce(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[str, bytes, list[Any]]]
) -> dict[int, int]:
    """Send (key, value, headers) records batched; return the end offset of each partition.

    From the acknowledgements: Tansu answers a ListOffsets(latest) with the last record
    batch's base offset + 1, which is short of the end when batches hold several records.
    """
    acks = [
        await producer.send(topic, value=value, key=key.encode(), headers=headers)
        for key, value, headers in records
    ]
    ends = dict.fromkeys(range(3), 0)
    for metadata in await asyncio.gather(*acks):
        ends[metadata.partition] = max(ends[metadata.partition], metadata.offset + 1)
    return ends


def backlog(families: list[str], per_family: int) -> dict[str, list[CaseOpened]]:
    return {family: [opened(family) for _ in range(per_family)] for family in families}


def interleaved(events: dict[str, list[CaseOpened]]) -> list[CaseOpened]:
    """Families' events interleaved, each family's in its own order."""
    rounds = zip(*events.values(), strict=True)
    return [event for one_round in rounds for event in one_round]


async def committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        found: dict[int, int] = {}
        for partition in range(3):
            offset = await consumer.committed(TopicPartition(topic, partition))
            found[partition] = -1 if offset is None else offset
        return found
    finally:
        await consumer.stop()


async def test_a_backlog_is_handled_in_batches_with_a_poison_and_a_malformed_record(
    kafka_bootstrap: str,
    topics: tuple[str, str],
    producer: AIOKafkaProducer,
    tmp_path: Path,
) -> None:
    topic, dead_letter_topic = topics
    families = [str(uuid.uuid4()) for _ in range(6)]
    events = backlog(families, 40)
    poison = events[families[0]][17]
    ordered = interleaved(events)
    records: list[tuple[str, bytes, list[Any]]] = []
    poison_value = b""
    for event in ordered:
        record = record_of(event)
        records.append((record.key, record.value, list(record.headers)))
        if event is poison:
            poison_value = record.value
    malformed_value = b'{"first_name": "Fatima", "not": "an event"}'
    records.insert(50, (families[1], malformed_value, [("ce_specversion", b"1.0")]))
    ends = await produce(producer, topic, records)  # all there before the consumer starts

    store = SqliteStore(tmp_path / "batch.sqlite3")
    await store.open()
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))

    async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        data = event.data
        if data.case_id == poison.case_id:
            raise HandlerError("poison")
        current = await uow.get(LEDGER, data.family_id)
        cases = [] if current is None else current.data["cases"]
        if current is None:
            await uow.insert(LEDGER, data.family_id, {"cases": [data.case_id]})
        else:
            await uow.replace(
                LEDGER,
                data.family_id,
                {"cases": [*cases, data.case_id]},
                expected_version=current.version,
            )
        uow.emit(OutboxMessage(id=f"out-{event.id}", topic="t.out.v1", key="k", value=b"{}"))

    broker = create_broker(
        kafka_bootstrap, client_id="batch-test", telemetry=setup_telemetry("t", set_global=False)
    )
    group = f"test-{uuid.uuid4().hex}"
    processor = EventProcessor(
        store=store,
        consumer="reporting",
        handler=handler,
        dead_letters=KafkaDeadLetterSink(broker, dead_letter_topic),
        retries=1,
        retry_backoff_seconds=0.01,
    )
    subscribe(broker, topic=topic, group_id=group, processor=processor, session_timeout_ms=3000)
    await broker.start()
    try:
        expected_total = len(ordered) - 1
        deadline = time.monotonic() + TIMEOUT
        while await store.outbox_backlog() < expected_total:
            assert time.monotonic() < deadline, "the backlog was not handled in time"
            await asyncio.sleep(0.1)
        letters = await read_exactly(kafka_bootstrap, dead_letter_topic, 2, within=TIMEOUT)
        while await committed(kafka_bootstrap, topic, group) != ends:
            assert time.monotonic() < deadline, (
                f"offsets {await committed(kafka_bootstrap, topic, group)} not at {ends}"
            )
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
        await store.close()

    reopened = SqliteStore(tmp_path / "batch.sqlite3")
    await reopened.open()
    try:
        for family in families:
            ledger = await reopened.get(LEDGER, family)
            assert ledger is not None
            wanted = [e.case_id for e in events[family] if e is not poison]
            assert ledger.data["cases"] == wanted, "every event once, in its family's order"
        assert await reopened.outbox_backlog() == expected_total
    finally:
        await reopened.close()
    assert len(commits) < len(ordered) / 4, f"{len(commits)} commits for {len(ordered)} events"
    reasons = sorted(dict(letter.headers)[dlq.REASON].decode()[:14] for letter in letters)
    assert reasons == ["handler failed", "invalid event:"]
    assert {letter.value for letter in letters} == {malformed_value, poison_value}


def ledgers(path: Path) -> dict[str, list[str]]:
    """The ledgers as committed, read beside the running consumer."""
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            rows = conn.execute(
                "SELECT id, body FROM documents WHERE collection = ?", (LEDGER,)
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
    return {doc_id: json.loads(body)["cases"] for doc_id, body in rows}


def start_child(bootstrap: str, topics: tuple[str, str], group: str, db: Path) -> Any:
    args = [sys.executable, str(CHILD), bootstrap, *topics, group, str(db), "50"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603


async def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_kill_9_in_the_middle_of_a_batch_loses_nothing_and_applies_nothing_twice(
    kafka_bootstrap: str, topics: tuple[str, str], producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    topic, _ = topics
    families = [str(uuid.uuid4()) for _ in range(4)]
    events = backlog(families, 100)
    records = []
    for event in interleaved(events):
        record = record_of(event)
        records.append((record.key, record.value, list(record.headers)))
    await produce(producer, topic, records)
    db = tmp_path / "child.sqlite3"
    group = f"test-{uuid.uuid4().hex}"

    def total() -> int:
        return sum(len(cases) for cases in ledgers(db).values())

    first = start_child(kafka_bootstrap, topics, group, db)
    try:
        await wait_for(lambda: total() >= 50, "the first batch")
        await asyncio.sleep(0.04)  # into the next batch (50 events take ~100 ms or more)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = total()
    finally:
        if first.poll() is None:
            first.kill()
    assert 0 < at_kill < 400, "killed while events were still coming"

    second = start_child(kafka_bootstrap, topics, group, db)
    try:
        await wait_for(lambda: total() >= 400, "the rest after the restart")
        await asyncio.sleep(0.5)  # a doubled event would show as a longer ledger
        final = ledgers(db)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)
    for family in families:
        assert final[family] == [e.case_id for e in events[family]], "once each, in order"
