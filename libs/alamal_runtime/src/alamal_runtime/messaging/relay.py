"""The outbox relay: publishes committed outbox messages in commit order per key, then marks them
sent.

A batch is handed to the producer without awaiting each acknowledgement in turn. Order per key
is kept because a key's messages go out in waves: each wave holds at most one message per key,
and the next wave starts once every message of the current one is acknowledged. A burst of
many families' events is one wave; the producer batches it per partition. The messages that
went out are then marked sent in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog
from opentelemetry import propagate, trace

from alamal_runtime.store import OutboxMessage, OutboxRecord, Store

log = structlog.get_logger(__name__)

type Send = Callable[[OutboxMessage], Awaitable[Awaitable[object]]]
"""Hand a message to the producer; the awaitable it returns completes once the broker has
acknowledged the message (and raises if it could not be delivered)."""


def waves(records: Sequence[OutboxRecord]) -> list[list[OutboxRecord]]:
    """Split records (in commit order) into waves holding at most one record per key; a key's
    records keep their order across waves."""
    found: list[list[OutboxRecord]] = []
    next_wave: dict[str, int] = {}
    for record in records:
        wave = next_wave.get(record.message.key, 0)
        if wave == len(found):
            found.append([])
        found[wave].append(record)
        next_wave[record.message.key] = wave + 1
    return found


class OutboxRelay:
    """Publishes pending outbox messages; woken by commits, polling as a fallback.

    Delivery is at-least-once: a crash between publish and mark-sent republishes the message,
    and consumers de-duplicate by event id. One relay runs per service instance.
    """

    def __init__(
        self,
        store: Store,
        send: Send,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        tracer: trace.Tracer | None = None,
        before_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._before_batch = before_batch
        self._send = send
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
        """Publish one batch of pending messages in order per key; return how many went out.

        Raises the first failure after marking what did go out, so it is not re-sent.
        """
        if self._before_batch is not None:
            # E.g. a new broker incarnation: what it lost is requeued before anything newer.
            await self._before_batch()
        records = await self._store.outbox_pending(self._batch_size)
        sent: list[OutboxRecord] = []
        try:
            for wave in waves(records):
                await self._publish_wave(wave, sent)
        finally:
            if sent:
                await self._store.outbox_mark_sent(sent)
                self.published += len(sent)
        return len(sent)

    async def _publish_wave(self, wave: list[OutboxRecord], sent: list[OutboxRecord]) -> None:
        """Send a wave without awaiting acknowledgements in turn and add the acknowledged seqs
        to `sent`; once the wave has settled, raise its first failure, if any."""
        acks: list[Awaitable[object]] = []
        failure: BaseException | None = None
        for record in wave:
            try:
                acks.append(await self._send_traced(record))
            except Exception as exc:
                failure = exc
                break
        results = await asyncio.gather(*acks, return_exceptions=True)
        handed_over = zip(wave[: len(results)], results, strict=True)
        sent.extend(r for r, res in handed_over if not isinstance(res, BaseException))
        failure = failure or next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure

    async def _send_traced(self, record: OutboxRecord) -> Awaitable[object]:
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
            return await self._send(record.message)

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
