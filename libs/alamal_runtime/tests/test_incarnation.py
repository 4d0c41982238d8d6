"""A new broker incarnation gets the retained outbox again, in order, on real Tansu brokers:
the broker is killed and started again on its port (as the runner's supervisor does), and what
the dead one had acknowledged is published again before anything newer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import source_for
from alamal_contracts.events import CaseOpened
from alamal_contracts.topics import CASE_OPENED
from alamal_runtime.events import emit
from alamal_runtime.messaging.incarnation import (
    BROKER_STATE,
    STATE_COLLECTION,
    BrokerIncarnation,
    ClusterIdReader,
    OutboxRetention,
)
from alamal_runtime.messaging.relay import OutboxRelay
from alamal_runtime.store import OutboxMessage, Store
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.kafka_testing import read_topic_until
from alamal_stack.tansu import TansuBroker, create_topics

pytestmark = pytest.mark.integration

TOPIC = CASE_OPENED  # what `emit` of a CaseOpened publishes to (a broker of its own)
SOURCE = source_for("cases")


@pytest.fixture
async def tansu(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    """A broker of this test's own, so it can be killed."""
    async with TansuBroker(log_dir=tmp_path / "logs") as broker:
        await create_topics(broker.bootstrap, [TOPIC], 2)
        yield broker


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "service.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


async def _emit(store: Store, families: list[str]) -> list[OutboxMessage]:
    emitted = []
    async with store.transaction() as uow:
        for family in families:
            event = CaseOpened(
                family_id=family,
                case_id=str(uuid.uuid4()),
                trusted_person_id=str(uuid.uuid4()),
                wijk=Wijk.OVERVECHT,
                opened_at=datetime.now(UTC),
            )
            emitted.append(emit(uow, event, source=SOURCE))
    return emitted


@contextlib.asynccontextmanager
async def _relaying(
    bootstrap: str, store: Store, incarnation: BrokerIncarnation
) -> AsyncIterator[OutboxRelay]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, request_timeout_ms=3000
    )
    await producer.start()

    async def send(message: OutboxMessage) -> Awaitable[object]:
        """Hand the message over; the returned future is the broker's acknowledgement."""
        headers = [(name, value) for name, value in message.headers]
        return await producer.send(
            message.topic, message.value, key=message.key.encode(), headers=headers
        )

    relay = OutboxRelay(
        store, send, poll_seconds=0.2, max_backoff_seconds=0.5, before_batch=incarnation.check
    )
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def _ids_by_key(bootstrap: str, count: int) -> dict[str, list[str]]:
    records = await read_topic_until(bootstrap, TOPIC, lambda got: len(got) >= count, within=30)
    assert len(records) == count
    by_key: dict[str, list[str]] = {}
    for record in records:
        assert record.key is not None
        by_key.setdefault(record.key.decode(), []).append(dict(record.headers)["ce_id"].decode())
    return by_key


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def test_a_new_incarnation_gets_the_retained_outbox_again_before_newer_messages(
    tansu: TansuBroker, store: SqliteStore
) -> None:
    reader = ClusterIdReader(tansu.bootstrap)
    incarnation = BrokerIncarnation(store, reader)
    families = [str(uuid.uuid4()) for _ in range(3)]
    try:
        async with _relaying(tansu.bootstrap, store, incarnation):
            first = await _emit(store, families) + await _emit(store, families)
            await _eventually(lambda: _backlog_is(store, 0))
            first_cluster = tansu.cluster_id
            recorded = await store.get(STATE_COLLECTION, BROKER_STATE)
            assert recorded is not None
            assert recorded.data["cluster_id"] == first_cluster
            assert incarnation.requeued == 0, "the first incarnation a store sees is only recorded"

            pid = tansu.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # acknowledged messages die with it
            await tansu.restart_async()
            await create_topics(tansu.bootstrap, [TOPIC], 2)
            assert tansu.cluster_id != first_cluster
            later = await _emit(store, families)
            await _eventually(lambda: _backlog_is(store, 0))
            expected: dict[str, list[str]] = {}
            for message in first + later:
                expected.setdefault(message.key, []).append(message.id)
            assert await _ids_by_key(tansu.bootstrap, len(first) + len(later)) == expected
            assert incarnation.requeued == len(first)
            recorded = await store.get(STATE_COLLECTION, BROKER_STATE)
            assert recorded is not None
            assert recorded.data["cluster_id"] == tansu.cluster_id

            # The same incarnation again (a later batch, another process): nothing requeued.
            again = BrokerIncarnation(store, reader)
            await again.check()
            assert again.requeued == 0
    finally:
        await reader.close()


async def _backlog_is(store: Store, count: int) -> bool:
    return await store.outbox_backlog() == count


async def test_retention_lets_old_published_messages_go(store: SqliteStore) -> None:
    await _emit(store, [str(uuid.uuid4()), str(uuid.uuid4())])
    await store.outbox_mark_sent(await store.outbox_pending(10))
    await _emit(store, [str(uuid.uuid4())])
    keep_forever = OutboxRetention(store, retention_seconds=0, every_seconds=60)
    assert await keep_forever.trim_once(datetime.now(UTC) + timedelta(days=3650)) == {}
    week = OutboxRetention(store, retention_seconds=7 * 24 * 3600, every_seconds=60)
    assert await week.trim_once() == {}
    assert await week.trim_once(datetime.now(UTC) + timedelta(days=8)) == {TOPIC: 2}
    assert await store.outbox_backlog() == 1, "an unsent message is never trimmed"
