"""A consumer that lived through a broker restart reads the new incarnation from its beginning,
on real Tansu brokers killed and started again on their port (as the runner's supervisor does).

The danger it closes: the consumer's group offset on the new broker can be a position from the
old one (a commit that reached the new broker before the group noticed the change, or another
replica's), and Tansu answers a fetch past a partition's end with nothing rather than
OFFSET_OUT_OF_RANGE, so the consumer silently skips everything below that position. The tests
put such a stale offset on the new broker while the consumer is stopped, then start it again as
a process that had known the old broker. The control (no rewind) shows the skip.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import CloudEvent, source_for, to_kafka
from alamal_contracts.events import CaseOpened
from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.consumer import EventProcessor
from alamal_runtime.messaging.dead_letter import KafkaDeadLetterSink
from alamal_runtime.messaging.incarnation import ClusterIdReader
from alamal_runtime.messaging.rewind import IncarnationRewind, watch_incarnation
from alamal_runtime.messaging.subscribe import subscribe_all
from alamal_runtime.store import UnitOfWork
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.tansu import TansuBroker, create_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TOPIC = "test.rewind.v1"
DEAD = "test-rewind.dead-letter.v1"
HANDLED = "handled"
STALE = 40
"""The position the consumer had on the old broker, committed again to the new one."""
WITHIN = 60.0


@pytest.fixture
async def tansu(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    async with TansuBroker(log_dir=tmp_path / "logs") as broker:
        await create_topics(broker.bootstrap, [TOPIC, DEAD], 1)
        yield broker


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "consumer.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


async def produce(bootstrap: str, count: int) -> list[str]:
    """`count` events on the topic's one partition, in order; their case ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    cases = []
    try:
        for _ in range(count):
            event = CaseOpened(
                family_id=str(uuid.uuid4()),
                case_id=str(uuid.uuid4()),
                trusted_person_id=str(uuid.uuid4()),
                wijk=Wijk.ZUID,
                opened_at=datetime.now(UTC),
            )
            record = to_kafka(
                event,
                event_id=str(uuid.uuid4()),
                source=source_for("cases"),
                time=datetime.now(UTC),
            )
            await producer.send_and_wait(
                TOPIC, record.value, key=record.key.encode(), headers=list(record.headers)
            )
            cases.append(event.case_id)
    finally:
        await producer.stop()
    return cases


class Consumer:
    """A service's consumer of TOPIC (one group member), handling each event once in effect."""

    def __init__(self, bootstrap: str, store: SqliteStore, group: str) -> None:
        self.bootstrap = bootstrap
        self.store = store
        self.group = group
        self.broker = create_broker(
            bootstrap, client_id="rewind-test", telemetry=setup_telemetry("t", set_global=False)
        )

    async def start(self, rewind: IncarnationRewind | None) -> None:
        async def handler(event: CloudEvent[Any], uow: UnitOfWork) -> None:
            await uow.insert(HANDLED, event.data.case_id, {"at": time.time()})

        processor = EventProcessor(
            store=self.store,
            consumer="rewind-test",
            handler=handler,
            dead_letters=KafkaDeadLetterSink(self.broker, DEAD),
        )
        subscribe_all(
            self.broker,
            processors={TOPIC: processor},
            group_id=self.group,
            session_timeout_ms=3000,
            fetch_max_wait_ms=20,
            rewind=rewind,
        )
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def handled(self, cases: list[str]) -> list[str]:
        return [case for case in cases if await self.store.get(HANDLED, case) is not None]

    async def until_handled(self, cases: list[str]) -> None:
        deadline = time.monotonic() + WITHIN
        while len(await self.handled(cases)) < len(cases):
            assert time.monotonic() < deadline, (
                f"{len(await self.handled(cases))} of {len(cases)} handled"
            )
            await asyncio.sleep(0.1)


async def restarted_with_stale_offset(tansu: TansuBroker, group: str) -> str:
    """Kill -9 the broker, start a new incarnation on its port with the topics, and commit the
    old position to it for `group`; return the new cluster id."""
    old = tansu.cluster_id
    assert tansu.pid is not None
    os.kill(tansu.pid, signal.SIGKILL)
    await tansu.restart_async()
    await create_topics(tansu.bootstrap, [TOPIC, DEAD], 1)
    assert tansu.cluster_id is not None
    assert tansu.cluster_id != old
    stale = AIOKafkaConsumer(
        bootstrap_servers=tansu.bootstrap, group_id=group, enable_auto_commit=False
    )
    await stale.start()
    try:
        partition = TopicPartition(TOPIC, 0)
        stale.assign([partition])
        await stale.commit({partition: STALE})
        assert await stale.committed(partition) == STALE
    finally:
        await stale.stop()
    return tansu.cluster_id


async def lived_through(
    tansu: TansuBroker, store: SqliteStore, rewind: IncarnationRewind | None
) -> tuple[Consumer, str]:
    """A consumer that handled STALE events on the first broker, was stopped while the broker
    was replaced (and the stale offset committed), and starts again."""
    group = f"rewind-{uuid.uuid4().hex[:8]}"
    first = Consumer(tansu.bootstrap, store, group)
    await first.start(None)
    try:
        await first.until_handled(await produce(tansu.bootstrap, STALE))
    finally:
        await first.stop()
    old = tansu.cluster_id
    assert old is not None
    if rewind is not None:
        await rewind.seen(old)  # the process had known the old broker
    new_id = await restarted_with_stale_offset(tansu, group)
    again = Consumer(tansu.bootstrap, store, group)
    await again.start(rewind)
    return again, new_id


async def test_without_rewind_the_stale_offset_skips_the_new_incarnations_start(
    tansu: TansuBroker, store: SqliteStore
) -> None:
    consumer, _ = await lived_through(tansu, store, None)
    try:
        cases = await produce(tansu.bootstrap, STALE + 10)
        await consumer.until_handled(cases[STALE:])  # what lies past the stale position
        assert await consumer.handled(cases[:STALE]) == []
    finally:
        await consumer.stop()


async def test_a_batch_past_the_start_of_a_new_incarnation_is_read_again_from_it(
    tansu: TansuBroker, store: SqliteStore
) -> None:
    rewind = IncarnationRewind()
    consumer, new_id = await lived_through(tansu, store, rewind)
    try:
        cases = await produce(tansu.bootstrap, STALE + 10)
        # No watcher yet: the consumer learns of the new broker before handling a batch.
        assert await rewind.seen(new_id)
        await consumer.until_handled(cases)
        assert rewind.rewinds >= 1
    finally:
        await consumer.stop()


async def test_a_quiet_partition_below_the_stale_position_is_read_from_its_start(
    tansu: TansuBroker, store: SqliteStore
) -> None:
    rewind = IncarnationRewind()
    consumer, _ = await lived_through(tansu, store, rewind)
    reader = ClusterIdReader(tansu.bootstrap)
    watcher = asyncio.create_task(watch_incarnation(reader, rewind, every_seconds=0.2))
    try:
        cases = await produce(tansu.bootstrap, 5)  # never reaches the stale position
        await consumer.until_handled(cases)
        assert rewind.cluster_id == tansu.cluster_id
        assert rewind.rewinds >= 1
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await reader.close()
        await consumer.stop()
