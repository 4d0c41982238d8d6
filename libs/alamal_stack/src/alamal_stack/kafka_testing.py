"""Reading topics in tests: from the start, in a fresh consumer group, with a time bound."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

type Records = list[ConsumerRecord[bytes, bytes]]


@asynccontextmanager
async def _reader(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=3000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _read(
    consumer: AIOKafkaConsumer, found: Callable[[Records], bool], within: float
) -> Records:
    records: Records = []
    deadline = time.monotonic() + within
    while not found(records) and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200)
        for messages in batch.values():
            records.extend(messages)
    return records


async def read_topic_until(
    bootstrap: str, topic: str, found: Callable[[Records], bool], *, within: float = 15.0
) -> Records:
    """Read `topic` from the start until `found(records)` or `within` seconds have passed."""
    async with _reader(bootstrap, topic) as consumer:
        return await _read(consumer, found, within)


async def read_exactly(bootstrap: str, topic: str, count: int, *, within: float = 15.0) -> Records:
    """Read `count` records from the start; AssertionError if fewer came or the topic has more."""
    async with _reader(bootstrap, topic) as consumer:
        records = await _read(consumer, lambda got: len(got) >= count, within)
        if len(records) < count:
            raise AssertionError(
                f"read {len(records)} of {count} records from {topic} in {within}s"
            )
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = await consumer.end_offsets(partitions)
        # Tansu answers ListOffsets(latest) with the last record batch's base offset + 1, short
        # of the end when a batch holds several records; the fetch high watermark is right.
        for tp in partitions:
            if (high := consumer.highwater(tp)) is not None:
                ends[tp] = max(ends[tp], high)
    if sum(ends.values()) != count:
        raise AssertionError(f"{topic} holds {sum(ends.values())} records, expected {count}")
    return records
