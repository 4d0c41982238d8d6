"""Binds an EventProcessor to a FastStream Kafka subscriber."""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from alamal_runtime.messaging.consumer import Delivery, EventProcessor


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    processor: EventProcessor,
    session_timeout_ms: int = 6000,
) -> None:
    """Consume `topic` in `group_id`; the offset is committed only after the event is handled."""

    @broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(300, session_timeout_ms // 3),
    )
    async def consume(message: KafkaMessage) -> None:
        raw = message.raw_message
        if isinstance(raw, tuple):  # only batch subscribers receive tuples
            raise TypeError("batch delivery is not supported here")
        await processor.process(
            Delivery(
                topic=raw.topic,
                partition=raw.partition,
                offset=raw.offset,
                key=raw.key,
                value=raw.value,
                headers=tuple(raw.headers),
            )
        )
