"""Consumers read every partition of a new broker incarnation from its beginning.

When the embedded broker (Tansu, in memory) is replaced, its topics start empty at offset 0 and
the producers publish their retained outboxes to it again (`incarnation.BrokerIncarnation`).
A consumer that keeps the position it had on the old broker would skip everything below it:
Tansu answers a fetch past the end of a partition with no records rather than
OFFSET_OUT_OF_RANGE (measured: a consumer at offset 40 of a 5-record partition waits there),
so the client's `auto_offset_reset` never applies; and an offset committed to the new broker
from such a position outlives the group's rebalance.

`IncarnationRewind` is told the broker's cluster id (a watcher reads it every second). Once it
changes, every partition this consumer holds or gets assigned is sought to its beginning once
in the new incarnation: the inboxes absorb what was handled already. A partition whose batch
starts past 0 before the watcher noticed is rewound at that batch. Apache Kafka keeps one
cluster id for its whole life, so there this never triggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from alamal_runtime.messaging.consumer import Delivery
from alamal_runtime.messaging.incarnation import ReadClusterId

log = structlog.get_logger(__name__)

type ConsumerRef = Callable[[], AIOKafkaConsumer | None]


class IncarnationRewind(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks each partition to its beginning once per broker incarnation after the first."""

    def __init__(
        self, *, window_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cluster_id: str | None = None
        """The incarnation the consumer is on (the first one it was told of, then each new)."""
        self.rewinds = 0
        """Partitions sought to their beginning since this process started."""
        self._window = window_seconds
        self._clock = clock
        self._changed_at: float | None = None
        self._rewound: set[TopicPartition] = set()
        self._consumer: ConsumerRef = lambda: None

    def bind(self, consumer: ConsumerRef) -> None:
        """Where to find the running consumer (FastStream builds it at start)."""
        self._consumer = consumer

    def _active(self) -> bool:
        return self._changed_at is not None and self._clock() - self._changed_at < self._window

    async def seen(self, cluster_id: str) -> bool:
        """The broker answering now is `cluster_id`; rewind what the consumer holds if that is
        a new incarnation. Returns whether it was."""
        if self.cluster_id is None or cluster_id == self.cluster_id:
            self.cluster_id = cluster_id
            return False
        log.warning("consumer_rewind_new_broker", previous=self.cluster_id, cluster_id=cluster_id)
        self.cluster_id = cluster_id
        self._changed_at = self._clock()
        self._rewound.clear()
        consumer = self._consumer()
        if consumer is not None:
            await self._rewind(consumer, consumer.assignment())
        return True

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # Whoever gets it next starts from what was committed: maybe a stale offset.
        self._rewound.difference_update(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self._consumer()
        if consumer is not None and self._active():
            await self._rewind(consumer, set(assigned))

    async def before_batch(
        self, consumer: AIOKafkaConsumer, deliveries: Sequence[Delivery]
    ) -> list[Delivery]:
        """The deliveries to handle: those of a partition not yet rewound in this incarnation
        that start past 0 are dropped, and the partition is read again from its beginning."""
        if not self._active():
            return list(deliveries)
        first: dict[TopicPartition, int] = {}
        for delivery in deliveries:
            partition = TopicPartition(delivery.topic, delivery.partition)
            first.setdefault(partition, delivery.offset)
        stale = {p for p, offset in first.items() if p not in self._rewound and offset > 0}
        self._rewound.update(p for p in first if p not in stale)
        if not stale:
            return list(deliveries)
        await self._rewind(consumer, stale)
        return [d for d in deliveries if TopicPartition(d.topic, d.partition) not in stale]

    async def _rewind(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        todo = sorted(partitions - self._rewound)
        if not todo:
            return
        try:
            await consumer.seek_to_beginning(*todo)
        except Exception as exc:  # not assigned any more (a rebalance): the next owner rewinds
            log.warning("consumer_rewind_failed", error=type(exc).__name__)
            return
        self._rewound.update(todo)
        self.rewinds += len(todo)
        log.info("consumer_rewound", partitions=len(todo))


async def watch_incarnation(
    read_cluster_id: ReadClusterId, rewind: IncarnationRewind, *, every_seconds: float = 1.0
) -> None:
    """Tell `rewind` the broker's cluster id every `every_seconds` until cancelled (a broker
    that does not answer is asked again next time)."""
    while True:
        cluster_id: str | None = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(max(every_seconds, 5.0)):
                cluster_id = await read_cluster_id()
        if cluster_id is not None:
            await rewind.seen(cluster_id)
        await asyncio.sleep(every_seconds)
