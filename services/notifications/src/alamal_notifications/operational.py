"""Queueing operational events (not about a family) in the outbox, keyed by their entity."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from opentelemetry import propagate

from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import OperationalEvent
from alamal_runtime.store import OutboxMessage, UnitOfWork

SOURCE = "/alamal/notifications"


def emit_operational(uow: UnitOfWork, event: OperationalEvent) -> OutboxMessage:
    """Like `alamal_runtime.events.emit`, which is typed for family events only."""
    event_id = str(uuid.uuid4())
    record = to_kafka(event, event_id=event_id, source=SOURCE, time=datetime.now(UTC))
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    message = OutboxMessage(
        id=event_id,
        topic=record.topic,
        key=record.key,
        value=record.value,
        headers=record.headers,
        trace_carrier=carrier,
    )
    uow.emit(message)
    return message
