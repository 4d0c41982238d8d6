"""Emitting events through the outbox: envelope, id, time and the caller's trace context."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from opentelemetry import propagate

from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import EventBase
from alamal_runtime.store import OutboxMessage, UnitOfWork
from alamal_runtime.telemetry import tag_event_ids


def outbox_message(event: EventBase, *, source: str, now: datetime | None = None) -> OutboxMessage:
    """Wrap an event as a CloudEvents Kafka record for the outbox, with the current trace."""
    event_id = str(uuid.uuid4())
    record = to_kafka(event, event_id=event_id, source=source, time=now or datetime.now(UTC))
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    tag_event_ids(event)  # the request that caused it can be found by the ids it names
    return OutboxMessage(
        id=event_id,
        topic=record.topic,
        key=record.key,
        value=record.value,
        headers=record.headers,
        trace_carrier=carrier,
    )


def emit(uow: UnitOfWork, event: EventBase, *, source: str) -> OutboxMessage:
    """Queue `event` in the unit of work's outbox; it is published after the commit."""
    message = outbox_message(event, source=source)
    uow.emit(message)
    return message
