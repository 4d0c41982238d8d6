"""Operational metrics every service exports: consumer lag, outbox backlog, dead letters.

Observable gauges are read synchronously by the SDK, so an async sampler (`MetricsSampler`)
refreshes the values on an interval and the gauges report the last sample. Attributes carry
topic, group and code names only, never ids or personal data. Request latency comes from the
FastAPI instrumentation (`http.server.duration` histogram).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from alamal_runtime.messaging.dead_letter import (
    DeadLetter,
    DeadLetterPosition,
    DeadLetterSink,
    reason_code,
)
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)

METER = "alamal.runtime"
CONSUMER_LAG = "alamal.consumer.lag"
OUTBOX_BACKLOG = "alamal.outbox.backlog"
DEAD_LETTERS = "alamal.dead_letters"


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far one consumer group is behind on one partition."""

    group: str
    topic: str
    partition: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int:
        """Messages not yet committed by the group (all of them when nothing is committed)."""
        return max(0, self.end_offset - (self.committed or 0))


async def consumer_lag(
    bootstrap: str, group: str, topics: Iterable[str], *, timeout_ms: int = 10_000
) -> list[PartitionLag]:
    """End offset minus the group's committed offset for every partition of `topics`.

    Reads offsets only: the reader is manually assigned and never joins the group. Tansu 0.6
    answers ListOffsets(latest) with the last record batch's base offset + 1, short of the end
    when a batch holds several records (the relay sends batches), so one small fetch from that
    offset reads the true end, the high watermark, as well.
    """
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=timeout_ms,
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=1024,
    )
    await reader.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in sorted(set(topics))
            for p in sorted(reader.partitions_for_topic(topic) or await _partitions(reader, topic))
        ]
        if not partitions:
            return []
        ends = await reader.end_offsets(partitions)
        committed = {tp: await reader.committed(tp) for tp in partitions}
        await _true_ends(reader, partitions, ends)
    finally:
        await reader.stop()
    return [
        PartitionLag(group, tp.topic, tp.partition, ends[tp], committed[tp]) for tp in partitions
    ]


async def _true_ends(
    reader: AIOKafkaConsumer, partitions: list[TopicPartition], ends: dict[TopicPartition, int]
) -> None:
    reader.assign(partitions)
    for tp in partitions:
        reader.seek(tp, ends[tp])
    await reader.getmany(*partitions, timeout_ms=200)
    for tp in partitions:
        if (high := reader.highwater(tp)) is not None:
            ends[tp] = max(ends[tp], high)


async def _partitions(reader: AIOKafkaConsumer, topic: str) -> set[int]:
    await reader.topics()  # refreshes metadata
    return reader.partitions_for_topic(topic) or set()


class CountingDeadLetterSink:
    """Counts each dead letter by consumer, source topic and reason code, then passes it on."""

    def __init__(self, sink: DeadLetterSink, meter_provider: MeterProvider) -> None:
        self._sink = sink
        self._counter = meter_provider.get_meter(METER).create_counter(
            DEAD_LETTERS, unit="{message}", description="Messages sent to a dead-letter topic"
        )

    async def send(self, letter: DeadLetter) -> DeadLetterPosition | None:
        """Store the dead letter, then count it."""
        position = await self._sink.send(letter)
        self._counter.add(
            1,
            {
                "messaging.consumer.group.name": letter.consumer,
                "messaging.source.name": letter.source_topic,
                "alamal.dead_letter.reason": reason_code(letter.reason),
            },
        )
        return position


class MetricsSampler:
    """Samples outbox backlog and consumer lag on an interval for the observable gauges."""

    def __init__(
        self,
        *,
        service: str,
        store: Store,
        bootstrap: str,
        group: str,
        meter_provider: MeterProvider,
        interval_seconds: float = 15.0,
    ) -> None:
        self._service = service
        self._store = store
        self._bootstrap = bootstrap
        self._group = group
        self._interval = interval_seconds
        self.topics: set[str] = set()
        self.backlog: int | None = None
        self.lag: dict[str, int] = {}
        meter = meter_provider.get_meter(METER)
        meter.create_observable_gauge(
            OUTBOX_BACKLOG,
            callbacks=[self._observe_backlog],
            unit="{message}",
            description="Outbox messages committed but not yet published",
        )
        meter.create_observable_gauge(
            CONSUMER_LAG,
            callbacks=[self._observe_lag],
            unit="{message}",
            description="End offset minus the group's committed offset, per topic",
        )

    def _observe_backlog(self, _: CallbackOptions) -> Sequence[Observation]:
        if self.backlog is None:
            return []
        return [Observation(self.backlog, {"service.name": self._service})]

    def _observe_lag(self, _: CallbackOptions) -> Sequence[Observation]:
        return [
            Observation(lag, {"messaging.consumer.group.name": self._group, "topic": topic})
            for topic, lag in sorted(self.lag.items())
        ]

    async def sample(self) -> None:
        """Take one sample of the backlog and, if the service consumes, of its lag."""
        self.backlog = await self._store.outbox_backlog()
        if self.topics:
            per_topic: dict[str, int] = dict.fromkeys(self.topics, 0)
            for part in await consumer_lag(self._bootstrap, self._group, self.topics):
                per_topic[part.topic] += part.lag
            self.lag = per_topic

    async def run(self) -> None:
        """Sample until cancelled; a failed sample keeps the last values and is retried."""
        while True:
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("metrics_sample_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(self._interval)
