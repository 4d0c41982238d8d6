"""Reading whole topics and publishing raw records, with aiokafka (no consumer group)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

type Progress = Callable[[int, int], None]
type Headers = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as stored in Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...]


async def list_topics(bootstrap: str) -> list[str]:
    """Every topic name on the cluster."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def read_topic(
    bootstrap: str, topic: str, *, progress: Progress | None = None, batch: int = 500
) -> list[RawRecord]:
    """Every record now in `topic`, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10_000
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[RawRecord] = []
        remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
        if progress:
            progress(0, total)
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
            for tp, messages in fetched.items():
                for m in messages:
                    if m.offset < ends[tp]:
                        records.append(
                            RawRecord(
                                m.topic,
                                m.partition,
                                m.offset,
                                m.key,
                                m.value or b"",
                                tuple(m.headers),
                            )
                        )
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if progress:
                progress(len(records), total)
        return records
    finally:
        await consumer.stop()


class Publisher:
    """A plain producer that waits for every acknowledgement (Tansu: no idempotence)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=False, acks="all"
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None, headers: Headers
    ) -> tuple[int, int]:
        """Publish and return (partition, offset) once the broker has acknowledged."""
        meta = await self._producer.send_and_wait(
            topic, value=value, key=key, headers=list(headers)
        )
        return meta.partition, meta.offset
