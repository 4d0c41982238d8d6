"""Batch consumers: a polled batch of events is handled in one unit of work.

The inbox claims of the whole batch are made at once, every handler runs in the same unit of
work (in delivery order, so the order per partition, and so per key, is kept), and the batch
commits once: one transaction and one fsync instead of one per event. If a handler fails, the
unit of work rolls back; the events before the failing one are handled again together, the
failing one alone in its own unit of work with the single-event retries (so only an event that
keeps failing is dead-lettered), and the batch goes on after it. A record whose envelope is
invalid is dead-lettered alone; the others are handled.

When the store or the dead-letter topic cannot be reached, `process` raises `Redeliver` naming
the first delivery that is not done: everything before it is (handled, a duplicate, or
dead-lettered), so only the rest is delivered again and no dead letter is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import Token
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context

from alamal_contracts.envelope import CloudEvent, EnvelopeError, from_kafka
from alamal_contracts.topics import FAMILY_ERASURE_REQUESTED
from alamal_runtime.messaging.consumer import Delivery, EventProcessor, Outcome
from alamal_runtime.store import Store, StoreUnavailableError, UnitOfWork
from alamal_runtime.telemetry import tag_event_ids

log = structlog.get_logger(__name__)

ALONE_TOPICS: frozenset[str] = frozenset({FAMILY_ERASURE_REQUESTED})
"""Events handled in a unit of work of their own, after the events before them committed: an
erasure finds what a service holds about the family in its committed state, so what an event
earlier in the same batch wrote must be committed first (or it would outlive the erasure)."""


class Redeliver(Exception):  # noqa: N818 - an instruction to the subscriber, not a failure
    """Deliver the batch again from `deliveries[index]` on; those before it are done."""

    def __init__(self, index: int) -> None:
        super().__init__(f"deliver again from position {index} of the batch")
        self.index = index


class _HandlerFailedError(Exception):
    """The handler of deliveries[index] raised; its unit of work rolls back."""

    def __init__(self, index: int) -> None:
        super().__init__(f"handler failed at position {index}")
        self.index = index


@dataclass(frozen=True, slots=True)
class _Parsed:
    index: int
    delivery: Delivery
    processor: EventProcessor
    event: CloudEvent[Any]


class BatchProcessor:
    """Handles the deliveries of one poll, each by its topic's EventProcessor."""

    def __init__(
        self,
        processors: Mapping[str, EventProcessor],
        *,
        tracer: trace.Tracer | None = None,
        unavailable_pause_seconds: float = 1.0,
    ) -> None:
        stores = {id(p.store) for p in processors.values()}
        if len(stores) > 1:
            raise ValueError("a batch is one unit of work: every processor must share one store")
        self._processors = dict(processors)
        self._store: Store | None = next(iter(processors.values())).store if processors else None
        self._tracer = tracer or trace.get_tracer(__name__)
        self._unavailable_pause = unavailable_pause_seconds

    @property
    def topics(self) -> list[str]:
        """The topics this batch processor handles."""
        return list(self._processors)

    async def process(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Handle a batch; Redeliver when the rest of it must be delivered again."""
        outcomes: dict[int, Outcome] = {}
        for lo, hi in _segments(deliveries):
            await self._process_range(deliveries, lo, hi, outcomes)
        return [outcomes[i] for i in range(len(deliveries))]

    async def _process_range(
        self, deliveries: Sequence[Delivery], lo: int, hi: int, outcomes: dict[int, Outcome]
    ) -> None:
        start = lo
        while start < hi:
            failed = await self._as_one_unit(deliveries, start, hi, outcomes)
            if failed is None:
                break
            # The events before the failing one went well in the rolled-back unit: together
            # again; the failing one alone, with its retries and perhaps a dead letter.
            if await self._as_one_unit(deliveries, start, failed, outcomes) is not None:
                await self._one_by_one(deliveries, start, failed, outcomes)
            await self._one_by_one(deliveries, failed, failed + 1, outcomes)
            start = failed + 1

    async def _as_one_unit(
        self, deliveries: Sequence[Delivery], lo: int, hi: int, outcomes: dict[int, Outcome]
    ) -> int | None:
        """Handle deliveries[lo:hi] in one unit of work, then dead-letter the invalid records
        among them; return the position of a handler that failed (nothing is done then)."""
        if hi - lo <= 1:
            await self._one_by_one(deliveries, lo, hi, outcomes)
            return None
        parsed: list[_Parsed] = []
        invalid: list[tuple[int, Delivery, EnvelopeError]] = []
        for index in range(lo, hi):
            delivery = deliveries[index]
            try:
                event = from_kafka(delivery.value, delivery.headers)
            except EnvelopeError as exc:
                invalid.append((index, delivery, exc))
                continue
            parsed.append(_Parsed(index, delivery, self._processors[delivery.topic], event))
        if parsed:
            try:
                outcomes |= await self._in_one_unit(parsed)
            except _HandlerFailedError as failed:
                # The type only: a handler's message may quote personal data from the store.
                log.warning(
                    "batch_failed_isolating",
                    batch=hi - lo,
                    position=failed.index - lo,
                    error=type(failed.__cause__).__name__,
                )
                return failed.index
            except StoreUnavailableError as exc:
                log.warning("store_unavailable_redeliver", batch=hi - lo)
                await asyncio.sleep(self._unavailable_pause)
                raise Redeliver(lo) from exc
        for index, delivery, error in invalid:
            try:
                outcomes[index] = await self._processors[delivery.topic].dead_letter_invalid(
                    delivery, error
                )
            except Exception as exc:  # the dead-letter topic unreachable
                raise Redeliver(index) from exc
        return None

    async def _one_by_one(
        self, deliveries: Sequence[Delivery], lo: int, hi: int, outcomes: dict[int, Outcome]
    ) -> None:
        """Each delivery in its own unit of work with the single-event retries, in order."""
        for index in range(lo, hi):
            delivery = deliveries[index]
            try:
                with self._span(delivery):
                    outcomes[index] = await self._processors[delivery.topic].process(delivery)
            except Exception as exc:  # store down, or the dead-letter topic unreachable
                raise Redeliver(index) from exc

    async def _in_one_unit(self, parsed: list[_Parsed]) -> dict[int, Outcome]:
        assert self._store is not None  # noqa: S101 - parsed is empty without processors

        async def work(uow: UnitOfWork) -> dict[int, Outcome]:
            outcomes: dict[int, Outcome] = {}
            fresh = await _claim_all(uow, parsed)
            for item in parsed:
                new = fresh[item.processor.consumer]
                if item.event.id not in new:
                    outcomes[item.index] = Outcome.DUPLICATE
                    continue
                new.discard(item.event.id)  # a second copy in the same batch is a duplicate
                await self._handle_one(item, uow)
                outcomes[item.index] = Outcome.HANDLED
            return outcomes

        # Re-run from the start after a transient conflict (MongoDB), like a single event.
        outcomes = await self._store.with_transaction(work)
        handled = sum(1 for o in outcomes.values() if o is Outcome.HANDLED)
        log.info("batch_handled", handled=handled, duplicates=len(outcomes) - handled)
        return outcomes

    async def _handle_one(self, item: _Parsed, uow: UnitOfWork) -> None:
        # By hand rather than two `with` blocks: this runs for every event of a batch, and the
        # generator-based context managers cost as much as the handler.
        span, token = self._start_span(item.delivery)
        bound = structlog.contextvars.bind_contextvars(
            event_id=item.event.id, event_type=item.event.type
        )
        try:
            tag_event_ids(item.event.data, span)
            await item.processor.handler(item.event, uow)
        except StoreUnavailableError:
            raise  # a transient conflict (re-run) or the store down (redelivered)
        except Exception as exc:
            raise _HandlerFailedError(item.index) from exc
        finally:
            structlog.contextvars.reset_contextvars(**bound)
            otel_context.detach(token)
            span.end()

    def _start_span(self, delivery: Delivery) -> tuple[trace.Span, Token[Context]]:
        """Start an event's consumer span, a child of the span that emitted the event (one
        trace per flow), and make it current; the caller detaches the token and ends it."""
        carrier = {
            name: value.decode("utf-8", "replace")
            for name, value in delivery.headers
            if value is not None and name in ("traceparent", "tracestate")
        }
        parent = propagate.extract(carrier)
        span = self._tracer.start_span(
            f"{delivery.topic} process",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.destination.name": delivery.topic,
                "messaging.kafka.destination.partition": delivery.partition,
                "messaging.kafka.message.offset": delivery.offset,
            },
        )
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    @contextmanager
    def _span(self, delivery: Delivery) -> Iterator[None]:
        """The event's consumer span as a block (for the one-at-a-time path)."""
        span, token = self._start_span(delivery)
        try:
            yield
        finally:
            otel_context.detach(token)
            span.end()


async def _claim_all(uow: UnitOfWork, parsed: list[_Parsed]) -> dict[str, set[str]]:
    """Bulk inbox claims, one call per consumer name; the ids each may handle now."""
    by_consumer: dict[str, list[str]] = {}
    for item in parsed:
        by_consumer.setdefault(item.processor.consumer, []).append(item.event.id)
    return {
        consumer: await uow.claim_inbox_many(consumer, ids) for consumer, ids in by_consumer.items()
    }


def _segments(deliveries: Sequence[Delivery]) -> Iterator[tuple[int, int]]:
    """The ranges of a batch handled together: a delivery of ALONE_TOPICS is a range alone."""
    lo = 0
    for index, delivery in enumerate(deliveries):
        if delivery.topic in ALONE_TOPICS:
            if lo < index:
                yield lo, index
            yield index, index + 1
            lo = index + 1
    if lo < len(deliveries):
        yield lo, len(deliveries)
