"""Binds event processors to one FastStream Kafka batch subscriber per service instance."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import trace

from alamal_runtime.messaging.batch import BatchProcessor, Redeliver
from alamal_runtime.messaging.consumer import Delivery, EventProcessor
from alamal_runtime.messaging.rewind import IncarnationRewind

log = structlog.get_logger(__name__)

type _Parse = Callable[[Any], Awaitable[StreamMessage[Any]]]


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    processor: EventProcessor,
    session_timeout_ms: int = 6000,
    max_batch: int = 500,
    fetch_max_wait_ms: int = 20,
    tracer: trace.Tracer | None = None,
) -> BatchProcessor:
    """Consume `topic` in `group_id`; offsets are committed only after the events are handled.

    (A single topic, for tests and tools on the embedded broker: a short fetch wait.)
    """
    return subscribe_all(
        broker,
        processors={topic: processor},
        group_id=group_id,
        session_timeout_ms=session_timeout_ms,
        max_batch=max_batch,
        fetch_max_wait_ms=fetch_max_wait_ms,
        tracer=tracer,
    )


def subscribe_all(
    broker: KafkaBroker,
    *,
    processors: Mapping[str, EventProcessor],
    group_id: str,
    session_timeout_ms: int = 6000,
    max_batch: int = 500,
    idle_poll_ms: int = 10,
    fetch_max_wait_ms: int = 500,
    tracer: trace.Tracer | None = None,
    rewind: IncarnationRewind | None = None,
) -> BatchProcessor:
    """One consumer in `group_id` for all the topics; each poll (up to `max_batch` records,
    across partitions) is handled as one batch, and the offsets are committed once, after it.

    One member per service instance, not one per topic: every member joining a group makes the
    broker rebalance it, and on Tansu each rebalance waits ~1.5x the session timeout, so a
    service with nine topics took most of a minute to start. A poll returns as soon as records
    are there; FastStream sleeps `idle_poll_ms` after an empty poll, which bounds the latency an
    idle consumer adds. `fetch_max_wait_ms` is how long the broker may hold a fetch: Apache Kafka
    answers as soon as records arrive, Tansu only when the wait is over, so on Tansu it bounds
    the latency of every event (use ~20 ms there). `rewind`, told the broker's cluster id,
    reads every partition of a new broker incarnation from its beginning.
    """
    batches = BatchProcessor(processors, tracer=tracer)
    if not processors:
        return batches

    subscriber = broker.subscriber(
        *batches.topics,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(300, session_timeout_ms // 3),
        batch=True,
        max_records=max_batch,
        batch_timeout_ms=idle_poll_ms,
        fetch_max_wait_ms=fetch_max_wait_ms,
        parser=_parse_keeping_records,
        decoder=_body_as_is,
        listener=rewind,
    )
    if rewind is not None:
        rewind.bind(lambda: subscriber.consumer)

    @subscriber
    async def consume(message: KafkaMessage) -> None:
        raw = message.raw_message
        records: tuple[ConsumerRecord[Any, Any], ...] = raw if isinstance(raw, tuple) else (raw,)
        deliveries = [
            Delivery(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value,
                headers=tuple(r.headers),
            )
            for r in records
        ]
        if rewind is not None:
            deliveries = await rewind.before_batch(message.consumer, deliveries)
            if not deliveries:
                return  # all read again from their partitions' beginning
        try:
            await batches.process(deliveries)
        except Redeliver as again:
            # Rewind each partition to its first record that is not done; returning normally
            # then commits exactly what is done, and the rest is fetched again.
            for partition, offset in first_not_done(deliveries[again.index :]).items():
                message.consumer.seek(partition, offset)
            log.warning("batch_redeliver", done=again.index, left=len(deliveries) - again.index)

    return batches


def first_not_done(rest: Sequence[Delivery]) -> dict[TopicPartition, int]:
    """The lowest offset per partition among deliveries still to be handled."""
    first: dict[TopicPartition, int] = {}
    for delivery in rest:
        partition = TopicPartition(delivery.topic, delivery.partition)
        first[partition] = min(first.get(partition, delivery.offset), delivery.offset)
    return first


# FastStream's own parsing and decoding run before the processor: a record whose body it cannot
# decode (content-type JSON, body not JSON) was nacked and redelivered forever, blocking its
# partition; one with a header it cannot parse (null or not UTF-8) was skipped without a dead
# letter. These two let every record reach the processor, which dead-letters what it cannot use.


async def _parse_keeping_records(records: Any, default: _Parse) -> StreamMessage[Any]:
    """FastStream's batch parser, given copies without the null or non-UTF-8 header values it
    cannot decode; the processor still gets the records exactly as delivered."""
    readable = tuple(_readable(record) for record in records)
    if all(copied is record for copied, record in zip(readable, records, strict=True)):
        return await default(records)
    message = await default(readable)
    message.raw_message = tuple(records)
    return message


def _readable(record: Any) -> Any:
    readable = [(name, value) for name, value in record.headers if _is_utf8(value)]
    if len(readable) == len(record.headers):
        return record
    parsed_copy = copy.copy(record)
    parsed_copy.headers = tuple(readable)
    return parsed_copy


async def _body_as_is(message: StreamMessage[Any]) -> bytes:
    """No decoding: FastStream would parse JSON by content type and fail on a bad body."""
    return message.body


def _is_utf8(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
