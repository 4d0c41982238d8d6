"""Inbox-backed event consumers: each event changes the store once, however often it arrives.

A message whose envelope or data is invalid goes straight to the dead-letter topic with the
reason. A handler that keeps failing is retried a bounded number of times, then dead-lettered.
If the store is unreachable the message is not acknowledged, so Kafka delivers it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from alamal_contracts.envelope import CloudEvent, EnvelopeError, from_kafka
from alamal_runtime.messaging.dead_letter import DeadLetter, DeadLetterSink
from alamal_runtime.store import Store, StoreUnavailableError, UnitOfWork
from alamal_runtime.telemetry import tag_event_ids

log = structlog.get_logger(__name__)

type Handler = Callable[[CloudEvent[Any], UnitOfWork], Awaitable[None]]


class Outcome(StrEnum):
    """What became of one delivered message."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One Kafka record as delivered, independent of the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes | None]]


class EventProcessor:
    """Runs a handler for each delivered event inside a unit of work with an inbox claim."""

    def __init__(
        self,
        *,
        store: Store,
        consumer: str,
        handler: Handler,
        dead_letters: DeadLetterSink,
        retries: int = 3,
        retry_backoff_seconds: float = 0.2,
        unavailable_pause_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._consumer = consumer
        self._handler = handler
        self._dead_letters = dead_letters
        self._retries = retries
        self._backoff = retry_backoff_seconds
        self._unavailable_pause = unavailable_pause_seconds

    @property
    def store(self) -> Store:
        """The store the events change."""
        return self._store

    @property
    def consumer(self) -> str:
        """The name the inbox records handled events under."""
        return self._consumer

    @property
    def handler(self) -> Handler:
        """What runs for each event, inside the unit of work that claimed it."""
        return self._handler

    async def dead_letter_invalid(self, delivery: Delivery, error: EnvelopeError) -> Outcome:
        """Dead-letter a record whose envelope or data is invalid, with the reason."""
        return await self._dead_letter(delivery, f"invalid event: {error}")

    async def process(self, delivery: Delivery) -> Outcome:
        """Handle one delivery; raise only when it must be delivered again (store down)."""
        try:
            event = from_kafka(delivery.value, delivery.headers)
        except EnvelopeError as exc:
            return await self.dead_letter_invalid(delivery, exc)
        tag_event_ids(event.data)
        with structlog.contextvars.bound_contextvars(event_id=event.id, event_type=event.type):
            last_error = ""
            for attempt in range(self._retries + 1):
                try:
                    return await self._handle(event)
                except StoreUnavailableError:
                    log.warning("store_unavailable_redeliver", topic=delivery.topic)
                    await asyncio.sleep(self._unavailable_pause)
                    raise
                except Exception as exc:
                    # The type only: a handler's message may quote personal data from the store.
                    last_error = type(exc).__name__
                    log.warning("handler_failed", attempt=attempt + 1, error=type(exc).__name__)
                    if attempt < self._retries:
                        await asyncio.sleep(self._backoff * (2**attempt))
            return await self._dead_letter(
                delivery, f"handler failed after {self._retries + 1} attempts: {last_error}"
            )

    async def _handle(self, event: CloudEvent[Any]) -> Outcome:
        async def work(uow: UnitOfWork) -> Outcome:
            if not await uow.claim_inbox(self._consumer, event.id):
                return Outcome.DUPLICATE
            await self._handler(event, uow)
            return Outcome.HANDLED

        # Re-run from the start after a transient conflict (not counted as a failed attempt);
        # still conflicting at the time limit, it is redelivered like an unavailable store.
        outcome = await self._store.with_transaction(work)
        if outcome is Outcome.DUPLICATE:
            log.info("event_duplicate_ignored")
        else:
            log.info("event_handled")
        return outcome

    async def _dead_letter(self, delivery: Delivery, reason: str) -> Outcome:
        await self._dead_letters.send(
            DeadLetter(
                consumer=self._consumer,
                source_topic=delivery.topic,
                source_partition=delivery.partition,
                source_offset=delivery.offset,
                key=delivery.key,
                value=delivery.value,
                headers=tuple(delivery.headers),
                reason=reason,
            )
        )
        log.warning(
            "event_dead_lettered",
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
        )
        return Outcome.DEAD_LETTERED
