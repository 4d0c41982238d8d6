"""Fence a producer by a lease at the last moment before its records leave the process.

The relay checks its lease before it hands each message to the producer, but the producer keeps
what it was handed in its own buffer until its sender writes the next request. A replica paused
(SIGSTOP, a frozen VM) with records in that buffer would, on waking, write them after another
replica took the lease over: stale records under the old epoch. Kafka's own answer, a
transactional producer whose epoch the broker checks, is not available on Tansu (it rejects
InitProducerId), so the check is made in the producer's client instead: every produce request
is checked against the lease right before it is written to the socket, with nothing in between
that could suspend. A request the lease no longer covers fails its records with `FencedError`
(not retriable), so the relay counts them as not sent and they stay in the outbox for the new
holder.

What is left is the few microseconds of synchronous code between the check and the socket write
(a pause landing exactly there still lets that one request out on waking), and bytes the kernel
would not take at once (the event loop buffers them and writes them later). Consumers' inboxes
absorb both: every stale record is a message the new holder publishes too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.protocol.produce import ProduceRequest
from faststream.kafka import KafkaBroker

type Check = Callable[[], object]
"""Raises while the lease does not cover writing now (e.g. `Lease.check`)."""


class FencedError(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """A produce request refused before it was written: the producer's lease is lost."""

    retriable = False


def producer_of(broker: KafkaBroker) -> AIOKafkaProducer:
    """The started broker's aiokafka producer."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None)
    if not isinstance(producer, AIOKafkaProducer):
        raise RuntimeError("the broker has no started producer to fence")
    return producer


def fence(producer: AIOKafkaProducer, check: Check) -> None:
    """Make every produce request of `producer` pass `check` right before it is written."""
    client = cast(Any, producer.client)
    send = client.send

    async def fenced_send(node_id: int, request: object, **options: Any) -> object:
        if isinstance(request, ProduceRequest):
            # Connect first: from the check to the socket write nothing may suspend.
            await client.ready(node_id, **options)
            try:
                check()
            except Exception as exc:
                raise FencedError(str(exc)) from exc
        return await send(node_id, request, **options)

    client.send = fenced_send
