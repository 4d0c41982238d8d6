"""The outbox relay: publishes committed outbox messages (in commit order per key), then marks
them sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from opentelemetry import propagate, trace

from alamal_runtime.store import OutboxMessage, OutboxRecord, Store

log = structlog.get_logger(__name__)

type Publish = Callable[[OutboxMessage], Awaitable[None]]


class OutboxRelay:
    """Publishes pending outbox messages; woken by commits, polling as a fallback.

    Delivery is at-least-once: a crash between publish and mark-sent republishes the message,
    and consumers de-duplicate by event id. One relay runs per service instance.
    """

    def __init__(
        self,
        store: Store,
        publish: Publish,
        *,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._store = store
        self._publish = publish
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._tracer = tracer or trace.get_tracer(__name__)
        self.published = 0
        store.add_commit_listener(self._wake.set)

    def wake(self) -> None:
        """Ask the relay to look at the outbox now."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of pending messages in order; return how many were published."""
        records = await self._store.outbox_pending(self._batch_size)
        sent: list[OutboxRecord] = []
        try:
            for record in records:
                context = propagate.extract(dict(record.message.trace_carrier))
                with self._tracer.start_as_current_span(
                    "outbox publish",
                    context=context,
                    kind=trace.SpanKind.INTERNAL,
                    attributes={
                        "messaging.destination.name": record.message.topic,
                        "messaging.message.id": record.message.id,
                    },
                ):
                    await self._publish(record.message)
                sent.append(record)
        finally:
            # Mark what did go out even when a later publish failed, so it is not re-sent.
            if sent:
                await self._store.outbox_mark_sent(sent)
                self.published += len(sent)
        return len(sent)

    async def run(self) -> None:
        """Relay until cancelled; failures back off exponentially and never drop a message."""
        backoff = 0.2
        while True:
            # Clear before draining: a commit that lands during the drain sets it again.
            self._wake.clear()
            try:
                while await self.drain_once() == self._batch_size:
                    pass
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or store down: keep the message, retry later
                log.warning("outbox_publish_failed", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
