"""Binds an EventProcessor to a FastStream Kafka subscriber."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage

from alamal_runtime.messaging.consumer import Delivery, EventProcessor

type _Parse = Callable[[Any], Awaitable[StreamMessage[Any]]]


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    processor: EventProcessor,
    session_timeout_ms: int = 6000,
) -> None:
    """Consume `topic` in `group_id`; the offset is committed only after the event is handled."""
    subscribe_all(
        broker,
        processors={topic: processor},
        group_id=group_id,
        session_timeout_ms=session_timeout_ms,
    )


def subscribe_all(
    broker: KafkaBroker,
    *,
    processors: Mapping[str, EventProcessor],
    group_id: str,
    session_timeout_ms: int = 6000,
) -> None:
    """One consumer in `group_id` for all the topics, each record handed to its topic's
    processor; offsets are committed only after the event is handled.

    One member per service instance, not one per topic: every member joining a group makes the
    broker rebalance it, and on Tansu each rebalance waits ~1.5x the session timeout, so a
    service with nine topics took most of a minute to start.
    """
    if not processors:
        return
    by_topic = dict(processors)

    @broker.subscriber(
        *by_topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(300, session_timeout_ms // 3),
        parser=_parse_keeping_record,
        decoder=_body_as_is,
    )
    async def consume(message: KafkaMessage) -> None:
        raw = message.raw_message
        if isinstance(raw, tuple):  # only batch subscribers receive tuples
            raise TypeError("batch delivery is not supported here")
        await by_topic[raw.topic].process(
            Delivery(
                topic=raw.topic,
                partition=raw.partition,
                offset=raw.offset,
                key=raw.key,
                value=raw.value,
                headers=tuple(raw.headers),
            )
        )


# FastStream's own parsing and decoding run before the processor: a record whose body it cannot
# decode (content-type JSON, body not JSON) was nacked and redelivered forever, blocking its
# partition; one with a header it cannot parse (null or not UTF-8) was skipped without a dead
# letter. These two let every record reach the processor, which dead-letters what it cannot use.


async def _parse_keeping_record(record: Any, default: _Parse) -> StreamMessage[Any]:
    """FastStream's parser, given a copy without the null or non-UTF-8 header values it cannot
    decode; the processor still gets the record exactly as delivered."""
    readable = [(name, value) for name, value in record.headers if _is_utf8(value)]
    if len(readable) == len(record.headers):
        return await default(record)
    parsed_copy = copy.copy(record)
    parsed_copy.headers = tuple(readable)
    message = await default(parsed_copy)
    message.raw_message = record
    return message


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
