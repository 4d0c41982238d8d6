"""The relay's producer writes nothing its lease no longer covers, on a real Tansu broker.

A replica paused with records in its producer's buffer would write them on waking, after another
replica took the lease over. Here the "pause" is the lease lost while records sit in the buffer:
they are handed to the producer and the lease is lost before the producer's sender has run. The
control (no fence) shows that the buffer is written regardless.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.fence import FencedError, fence, producer_of
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.tansu import TansuBroker, create_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOPIC = "test.fence.v1"
BUFFERED = 20


class Lease:
    """Stands in for `lease.Lease.check`: raises once lost."""

    def __init__(self) -> None:
        self.lost = False

    def check(self) -> int:
        if self.lost:
            raise RuntimeError("lease lost")
        return 1


@pytest.fixture
async def tansu(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    async with TansuBroker(log_dir=tmp_path / "logs") as broker:
        await create_topics(broker.bootstrap, [TOPIC], 1)
        yield broker


@pytest.fixture
async def producer(tansu: TansuBroker) -> AsyncIterator[KafkaBroker]:
    broker = create_broker(
        tansu.bootstrap, client_id="test-fence", telemetry=setup_telemetry("test", set_global=False)
    )
    await broker.start()
    yield broker
    await broker.stop()


async def hand_over(broker: KafkaBroker, marks: list[str]) -> list[Awaitable[object]]:
    """Give the producer one record per mark without awaiting any acknowledgement."""
    return [
        await broker.publish(mark.encode(), topic=TOPIC, key=b"k", no_confirm=True)
        for mark in marks
    ]


async def written(bootstrap: str, until: str) -> list[str]:
    """Every record on the topic, read from its beginning up to the record `until`."""
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while until not in seen:
                batches = await consumer.getmany(timeout_ms=500)
                seen.extend(r.value.decode() for rs in batches.values() for r in rs if r.value)
    finally:
        await consumer.stop()
    return seen


async def lose_with_a_full_buffer(
    broker: KafkaBroker, lease: Lease
) -> tuple[list[str], list[object]]:
    """One record acknowledged under the lease, then BUFFERED records handed over and the lease
    lost before the producer sent them; the marks and their outcomes."""
    await broker.publish(b"under-the-lease", topic=TOPIC, key=b"k")  # connected, metadata known
    marks = [f"buffered-{n}-{uuid.uuid4()}" for n in range(BUFFERED)]
    acks = await hand_over(broker, marks)
    lease.lost = True  # no await since the hand-over: the sender has not run yet
    outcomes = list(await asyncio.gather(*acks, return_exceptions=True))
    lease.lost = False
    return marks, outcomes


async def test_records_buffered_when_the_lease_is_lost_are_failed_not_written(
    tansu: TansuBroker, producer: KafkaBroker
) -> None:
    lease = Lease()
    fence(producer_of(producer), lease.check)

    marks, outcomes = await lose_with_a_full_buffer(producer, lease)
    assert all(isinstance(o, FencedError) for o in outcomes), outcomes

    # The producer still works once the lease is held again.
    await producer.publish(b"sentinel", topic=TOPIC, key=b"k")
    seen = await written(tansu.bootstrap, "sentinel")
    assert seen == ["under-the-lease", "sentinel"]
    assert not set(marks) & set(seen)


async def test_control_without_the_fence_the_buffer_is_written_after_the_lease_is_lost(
    tansu: TansuBroker, producer: KafkaBroker
) -> None:
    lease = Lease()  # the same steps, but nothing checks it

    marks, outcomes = await lose_with_a_full_buffer(producer, lease)
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes

    await producer.publish(b"sentinel", topic=TOPIC, key=b"k")
    seen = await written(tansu.bootstrap, "sentinel")
    assert seen == ["under-the-lease", *marks, "sentinel"]


async def test_a_dead_letter_producer_is_not_fenced_by_the_relays_lease(
    tansu: TansuBroker, producer: KafkaBroker
) -> None:
    """The service fences only the relay's own producer: its other one (dead letters) writes
    whether or not this replica holds the relay lease."""
    lease = Lease()
    relay = create_broker(
        tansu.bootstrap, client_id="test-relay", telemetry=setup_telemetry("t", set_global=False)
    )
    await relay.start()
    try:
        fence(producer_of(relay), lease.check)
        lease.lost = True
        with pytest.raises(FencedError):
            await relay.publish(b"relayed", topic=TOPIC, key=b"k")
        await producer.publish(b"dead-letter", topic=TOPIC, key=b"k")
    finally:
        await relay.stop()
    assert await written(tansu.bootstrap, "dead-letter") == ["dead-letter"]
