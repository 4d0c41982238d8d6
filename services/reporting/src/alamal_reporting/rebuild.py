"""Rebuild the projection: drop it, then replay the consumed topics from their first offsets.

A plain aiokafka consumer without a group reads every partition from the earliest offset to the
end offset taken just after the drop. Events are merged in memory and written in batches (one
unit of work each). The merge is idempotent and order-free, so events the live service handles
meanwhile are neither lost nor counted twice. Records the live consumer would dead-letter
(invalid envelope or data) are skipped here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from alamal_contracts.envelope import EnvelopeError, from_kafka
from alamal_reporting import erasures, store
from alamal_reporting.domain.facts import FactDoc, facts_of
from alamal_reporting.handlers import CONSUMED_TOPICS
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)

type Progress = Callable[[int, int], None]
"""Called with (records read so far, records to read)."""


class RebuildStalledError(RuntimeError):
    """The broker stopped delivering before the end offsets were reached."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did."""

    dropped: int
    events: int
    skipped: int


async def rebuild(
    projection: Store,
    bootstrap: str,
    *,
    topics: Sequence[str] = CONSUMED_TOPICS,
    batch_size: int = 5000,
    progress: Progress | None = None,
    stall_seconds: float = 60.0,
) -> RebuildResult:
    """Drop the projection and replay `topics` up to their current end into it.

    Erasures are part of the replay: the erasure topic is read first, every erased family is
    marked (as the live consumer marks it), and no fact of a marked family is written back.
    """
    dropped = await store.drop(projection)
    await erasures.mark_replayed(projection, bootstrap, stall_seconds=stall_seconds)
    erased = await erasures.erased_families(projection)
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
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
        # Tansu 0.6 answers ListOffsets(latest) with the last batch's base offset + 1 rather
        # than the log end; the fetch high watermark is right, so the first one seen raises it.
        confirmed: set[TopicPartition] = set()
        read = events = skipped = 0
        pending: dict[tuple[str, str], FactDoc] = {}
        last_progress = time.monotonic()
        while remaining:
            if time.monotonic() - last_progress > stall_seconds:
                raise RebuildStalledError(f"no record read for {stall_seconds:.0f} s")
            for tp in remaining - confirmed:
                if (high := consumer.highwater(tp)) is not None:
                    ends[tp] = max(ends[tp], high)
                    confirmed.add(tp)
            if progress is not None:
                progress(read, sum(ends[tp] - starts[tp] for tp in partitions))
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=batch_size)
            if batches:
                last_progress = time.monotonic()
            for tp, records in batches.items():
                for record in records:
                    if tp in confirmed and record.offset >= ends[tp]:
                        break
                    read += 1
                    try:
                        event = from_kafka(record.value or b"", record.headers)
                    except EnvelopeError:
                        skipped += 1
                        continue
                    events += 1
                    store.combine(pending, erasures.without(erased, facts_of(event.data)))
            for tp in list(remaining):
                if tp in confirmed and await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if len(pending) >= batch_size or not remaining:
                # The live consumer may erase a family meanwhile: look again before writing.
                erased = await erasures.erased_families(projection)
                await store.write_batch(projection, erasures.pending_without(erased, pending))
                pending = {}
        if progress is not None:
            progress(read, sum(ends[tp] - starts[tp] for tp in partitions))
    finally:
        await consumer.stop()
    log.info("projection_rebuilt", events=events, skipped=skipped, dropped=dropped)
    return RebuildResult(dropped=dropped, events=events, skipped=skipped)


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    existing = await consumer.topics()  # also refreshes the partition metadata
    found: list[TopicPartition] = []
    for topic in topics:
        if topic in existing:
            numbers = consumer.partitions_for_topic(topic) or set()
            found += [TopicPartition(topic, n) for n in sorted(numbers)]
    return found
