"""Dead letters: the original record, its headers and the reason, on `<service>.dead-letter.v1`."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from faststream.kafka import KafkaBroker

REASON = "dlq-reason"
SOURCE_TOPIC = "dlq-source-topic"
SOURCE_PARTITION = "dlq-source-partition"
SOURCE_OFFSET = "dlq-source-offset"
CONSUMER = "dlq-consumer"
FAILED_AT = "dlq-failed-at"
BINARY_HEADER_PREFIX = "dlq-b64-"
NULL_HEADER_PREFIX = "dlq-null-"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be handled, with why; the value is kept byte for byte."""

    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...]
    reason: str


def reason_code(reason: str) -> str:
    """A short code for a dead letter's reason, safe for metrics and operators' screens."""
    if reason.startswith("invalid event"):
        return "invalid_event"
    if reason.startswith("handler failed"):
        return "handler_failed"
    return "other"


@dataclass(frozen=True, slots=True)
class DeadLetterPosition:
    """Where a dead letter was stored on its dead-letter topic."""

    topic: str
    partition: int
    offset: int


class DeadLetterSink(Protocol):
    """Where dead letters go."""

    async def send(self, letter: DeadLetter) -> DeadLetterPosition | None:
        """Store the dead letter durably or raise; say where when the sink knows."""


def dead_letter_headers(letter: DeadLetter, *, now: datetime | None = None) -> dict[str, str]:
    """The original headers plus the dead-letter ones; non-UTF-8 values are kept as base64."""
    headers: dict[str, str] = {}
    for name, raw in letter.headers:
        if raw is None:  # Kafka allows a header without a value
            headers[NULL_HEADER_PREFIX + name] = ""
            continue
        try:
            headers[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            headers[BINARY_HEADER_PREFIX + name] = base64.b64encode(raw).decode("ascii")
    headers.update(
        {
            REASON: letter.reason,
            SOURCE_TOPIC: letter.source_topic,
            SOURCE_PARTITION: str(letter.source_partition),
            SOURCE_OFFSET: str(letter.source_offset),
            CONSUMER: letter.consumer,
            FAILED_AT: (now or datetime.now(UTC)).isoformat(),
        }
    )
    return headers


class KafkaDeadLetterSink:
    """Publishes dead letters to the consumer service's dead-letter topic."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def send(self, letter: DeadLetter) -> DeadLetterPosition:
        """Publish and wait for the broker's acknowledgement; return where it was stored."""
        stored = await self._broker.publish(
            letter.value,
            topic=self._topic,
            key=letter.key,
            headers=dead_letter_headers(letter),
        )
        return DeadLetterPosition(self._topic, stored.partition, stored.offset)
