"""Dead letters: the original record, its headers and the reason, on `<service>.dead-letter.v1`."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from faststream.kafka import KafkaBroker

from alamal_contracts.events import EVENTS_BY_TYPE
from alamal_runtime.store import Store, StoreError

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


class DeadLetterSink(Protocol):
    """Where dead letters go."""

    async def send(self, letter: DeadLetter) -> None:
        """Store the dead letter durably or raise."""


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

    async def send(self, letter: DeadLetter) -> None:
        """Publish and wait for the broker's acknowledgement."""
        await self._broker.publish(
            letter.value,
            topic=self._topic,
            key=letter.key,
            headers=dead_letter_headers(letter),
        )


DEAD_LETTER_LOG = "ops_dead_letters"
"""The service's own log of what it dead-lettered: codes and positions only, never values."""


def _event_type(letter: DeadLetter) -> str | None:
    for name, raw in letter.headers:
        if name == "ce_type" and raw is not None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
            # Only a type of the contracts is shown; anything else is input (a name, say).
            return text if text in EVENTS_BY_TYPE else None
    return None


class LoggingDeadLetterSink:
    """Sends to the wrapped sink, then notes the dead letter in the service's store (for the
    operator page): topic, partition, offset, consumer, reason code and event type."""

    def __init__(self, inner: DeadLetterSink, store: Store) -> None:
        self._inner = inner
        self._store = store

    async def send(self, letter: DeadLetter) -> None:
        """Dead-letter durably first; the note is best effort after it (the topic is the truth)."""
        await self._inner.send(letter)
        doc_id = f"{letter.source_topic}:{letter.source_partition}:{letter.source_offset}"
        try:
            async with self._store.transaction() as uow:
                if await uow.get(DEAD_LETTER_LOG, doc_id) is None:
                    await uow.insert(
                        DEAD_LETTER_LOG,
                        doc_id,
                        {
                            "topic": letter.source_topic,
                            "partition": letter.source_partition,
                            "offset": letter.source_offset,
                            "consumer": letter.consumer,
                            "reason": reason_code(letter.reason),
                            "event_type": _event_type(letter),
                            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
                        },
                    )
        except StoreError:
            return


async def recent_dead_letters(store: Store, *, limit: int = 100) -> list[dict[str, object]]:
    """The service's latest dead-letter notes, newest first."""
    records = await store.find(DEAD_LETTER_LOG, order_by="at", descending=True, limit=limit)
    return [{"id": r.id, **r.data} for r in records]
