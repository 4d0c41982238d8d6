"""Reading the projection's source: the consumed topics, from their first offsets to their end.

A plain aiokafka consumer without a group reads every partition from a start (the beginning, or
where an earlier read stopped) to the end offset taken when the read starts. Events are merged
in memory per entity (the merge is order-free and idempotent). Records the live consumer would
dead-letter (invalid envelope or data) are counted and skipped. On the embedded default the
topics hold what the producers published since the broker started, plus their retained outboxes
published again to the new broker (see `alamal_runtime.messaging.incarnation`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from alamal_contracts.envelope import EnvelopeError, from_kafka
from alamal_reporting import store
from alamal_reporting.domain.facts import FactDoc, facts_of
from alamal_reporting.ledger import Entry, entry_of

type Progress = Callable[[int, int], None]
"""Called with (records read so far, records to read)."""
type Positions = dict[TopicPartition, int]


class SourceStalledError(RuntimeError):
    """The broker stopped delivering before the end offsets were reached."""


@dataclass(slots=True)
class Source:
    """What a read of the topics found: merged facts per entity and every valid event's id."""

    facts: dict[tuple[str, str], FactDoc] = field(default_factory=dict)
    events: dict[str, Entry] = field(default_factory=dict)
    read: int = 0
    skipped: int = 0
    ends: Positions = field(default_factory=dict)
    """Where the read stopped, per partition (a later read can go on from there)."""


async def read_source(
    bootstrap: str,
    topics: Sequence[str],
    *,
    into: Source | None = None,
    starts: Mapping[TopicPartition, int] | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    stall_seconds: float = 60.0,
) -> Source:
    """Read `topics` from `starts` (default: their beginnings) to their current ends."""
    found = into if into is not None else Source()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        first = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            if starts is not None and starts.get(tp, 0) > first[tp]:
                first[tp] = starts[tp]
                consumer.seek(tp, starts[tp])
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:  # never before the start (Tansu under-reports the end: below)
            ends[tp] = max(ends[tp], first[tp])
        await _read(consumer, found, first, ends, batch_size, progress, stall_seconds)
        found.ends.update(ends)
    finally:
        await consumer.stop()
    return found


async def _read(
    consumer: AIOKafkaConsumer,
    found: Source,
    first: Positions,
    ends: Positions,
    batch_size: int,
    progress: Progress | None,
    stall_seconds: float,
) -> None:
    remaining = {tp for tp in first if ends[tp] > first[tp]}
    already = found.read
    # Tansu 0.6 answers ListOffsets(latest) with the last batch's base offset + 1 rather than
    # the log end; the fetch high watermark is right, so the first one seen raises it.
    confirmed: set[TopicPartition] = set()
    last_progress = time.monotonic()

    def report() -> None:
        if progress is not None:
            progress(found.read, already + sum(ends[tp] - first[tp] for tp in first))

    while remaining:
        if time.monotonic() - last_progress > stall_seconds:
            raise SourceStalledError(f"no record read for {stall_seconds:.0f} s")
        for tp in remaining - confirmed:
            if (high := consumer.highwater(tp)) is not None:
                ends[tp] = max(ends[tp], high)
                confirmed.add(tp)
        report()
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=batch_size)
        if batches:
            last_progress = time.monotonic()
        for tp, records in batches.items():
            for record in records:
                if tp in confirmed and record.offset >= ends[tp]:
                    break
                found.read += 1
                try:
                    event = from_kafka(record.value or b"", record.headers)
                except EnvelopeError:
                    found.skipped += 1
                    continue
                found.events[event.id] = entry_of(event.data)
                store.combine(found.facts, facts_of(event.data))
        for tp in list(remaining):
            if tp in confirmed and await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
    report()


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    existing = await consumer.topics()  # also refreshes the partition metadata
    found: list[TopicPartition] = []
    for topic in topics:
        if topic in existing:
            numbers = consumer.partitions_for_topic(topic) or set()
            found += [TopicPartition(topic, n) for n in sorted(numbers)]
    return found
