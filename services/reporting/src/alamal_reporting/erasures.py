"""Erasures in a rebuild: the replay reads them first and writes no fact of an erased family."""

from __future__ import annotations

import time
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from alamal_contracts.envelope import EnvelopeError, from_kafka
from alamal_contracts.events import FamilyErasureRequested
from alamal_contracts.topics import FAMILY_ERASURE_REQUESTED
from alamal_reporting.domain.facts import FactDoc, family_of
from alamal_runtime.erasure import ERASED_FAMILIES, mark_erased
from alamal_runtime.store import Store

FIND_ALL = 2**31 - 1
"""A bound every backend accepts for `find` (MongoDB's wire limit is a 32-bit integer)."""


class ErasureReplayStalledError(RuntimeError):
    """The broker stopped delivering the erasure topic before its end."""


async def erased_families(projection: Store) -> frozenset[str]:
    """The families marked erased in the projection's store."""
    records = await projection.find(ERASED_FAMILIES, limit=FIND_ALL)
    return frozenset(r.id for r in records)


def pending_without(
    erased: frozenset[str], pending: dict[tuple[str, str], FactDoc]
) -> dict[tuple[str, str], FactDoc]:
    """A rebuild batch without the entities of erased families."""
    return {
        key: doc for key, doc in pending.items() if family_of(key[0], key[1], doc) not in erased
    }


async def mark_replayed(projection: Store, bootstrap: str, *, stall_seconds: float) -> int:
    """Read the erasure topic from its start to its end and mark every family it erased;
    return how many erasures it held."""
    requests = await _read_erasures(bootstrap, stall_seconds=stall_seconds)
    if requests:
        async with projection.transaction() as uow:
            for requested, at in requests:
                await mark_erased(uow, requested.family_id, requested.request_id, now=at)
    return len(requests)


async def _read_erasures(
    bootstrap: str, *, stall_seconds: float
) -> list[tuple[FamilyErasureRequested, datetime]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        if FAMILY_ERASURE_REQUESTED not in await consumer.topics():
            return []
        numbers = consumer.partitions_for_topic(FAMILY_ERASURE_REQUESTED) or set()
        partitions = [TopicPartition(FAMILY_ERASURE_REQUESTED, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
        found: list[tuple[FamilyErasureRequested, datetime]] = []
        confirmed: set[TopicPartition] = set()  # Tansu: see `rebuild` on its end offsets
        last = time.monotonic()
        while remaining:
            if time.monotonic() - last > stall_seconds:
                raise ErasureReplayStalledError(f"no record read for {stall_seconds:.0f} s")
            for tp in remaining - confirmed:
                if (high := consumer.highwater(tp)) is not None:
                    ends[tp] = max(ends[tp], high)
                    confirmed.add(tp)
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            if batches:
                last = time.monotonic()
            for tp, records in batches.items():
                for record in records:
                    if tp in confirmed and record.offset >= ends[tp]:
                        break
                    try:
                        event = from_kafka(
                            record.value or b"", record.headers, expect=FamilyErasureRequested
                        )
                    except EnvelopeError:
                        continue  # dead-lettered by the live consumer; nothing to mark
                    found.append((event.data, event.time))
            for tp in list(remaining):
                if tp in confirmed and await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()
