"""The persisted delivery schedule: one message per (event, endpoint) and every attempt on it.

A message's `webhook-id` is its id, the same on every attempt. States: `pending` (waiting for
`next_attempt_at`), `delivered` (a 2xx came back; never sent again by the schedule), `failed`
(retries exhausted or the endpoint disabled; manual resend and recover make it pending again).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from alamal_runtime.store import Doc, Record, Store, UnitOfWork

MESSAGES = "messages"
ATTEMPTS = "attempts"


class State(StrEnum):
    """Where a message stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


async def prepare(store: Store) -> None:
    """Indexes for the scheduler's and the delivery log's queries."""
    await store.ensure_index(MESSAGES, ["endpoint_id", "state", "next_attempt_at"])
    await store.ensure_index(MESSAGES, ["endpoint_id", "state", "created_at"])
    await store.ensure_index(MESSAGES, ["state", "created_at"])
    await store.ensure_index(ATTEMPTS, ["endpoint_id", "at"])
    await store.ensure_index(ATTEMPTS, ["message_id", "at"])


def new_message_id() -> str:
    """A webhook message id (`webhook-id`)."""
    return f"msg_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook message to one endpoint; `body` is the exact signed text."""

    id: str
    endpoint_id: str
    partner_id: str
    event_type: str
    referral_id: str
    body: str
    state: State
    attempts: int
    next_attempt_at: float
    created_at: float
    round_attempts: int = 0
    """Attempts since the schedule last (re)started; a resend starts a new round."""
    last_status: int | None = None
    last_error: str | None = None
    last_attempt_at: float | None = None
    trigger: str = "event"
    """What started the current round: `event`, `resend` or `recover`."""
    trace_carrier: Mapping[str, str] = field(default_factory=dict)
    """W3C trace context of the event that queued it: deliveries continue that trace."""

    def restarted(self, now: float, *, trigger: str) -> Message:
        """Pending again, due now, with a fresh retry round (manual resend, recover)."""
        return replace(
            self, state=State.PENDING, next_attempt_at=now, round_attempts=0, trigger=trigger
        )

    @property
    def next_trigger(self) -> str:
        """How the delivery log labels the next attempt."""
        return self.trigger if self.round_attempts == 0 else "retry"


def message_doc(message: Message) -> Doc:
    """Serialise a message."""
    return {
        "endpoint_id": message.endpoint_id,
        "partner_id": message.partner_id,
        "event_type": message.event_type,
        "referral_id": message.referral_id,
        "body": message.body,
        "state": message.state.value,
        "attempts": message.attempts,
        "round_attempts": message.round_attempts,
        "next_attempt_at": message.next_attempt_at,
        "created_at": message.created_at,
        "last_status": message.last_status,
        "last_error": message.last_error,
        "last_attempt_at": message.last_attempt_at,
        "trigger": message.trigger,
        "trace_carrier": dict(message.trace_carrier),
    }


def message_from(record: Record) -> Message:
    """Read a stored message."""
    d = record.data
    return Message(
        id=record.id,
        endpoint_id=d["endpoint_id"],
        partner_id=d["partner_id"],
        event_type=d["event_type"],
        referral_id=d["referral_id"],
        body=d["body"],
        state=State(d["state"]),
        attempts=d["attempts"],
        round_attempts=d["round_attempts"],
        next_attempt_at=d["next_attempt_at"],
        created_at=d["created_at"],
        last_status=d.get("last_status"),
        last_error=d.get("last_error"),
        last_attempt_at=d.get("last_attempt_at"),
        trigger=d.get("trigger", "event"),
        trace_carrier=d.get("trace_carrier", {}),
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt as the delivery log shows it (no body, no personal data)."""

    id: str
    endpoint_id: str
    message_id: str
    at: float
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str
    trigger: str


def attempt_doc(attempt: Attempt) -> Doc:
    """Serialise an attempt."""
    return {
        "endpoint_id": attempt.endpoint_id,
        "message_id": attempt.message_id,
        "at": attempt.at,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
        "trigger": attempt.trigger,
    }


def attempt_from(record: Record) -> Attempt:
    """Read a stored attempt."""
    d = record.data
    return Attempt(
        id=record.id,
        endpoint_id=d["endpoint_id"],
        message_id=d["message_id"],
        at=d["at"],
        status_code=d["status_code"],
        latency_ms=d["latency_ms"],
        error=d["error"],
        response_excerpt=d["response_excerpt"],
        trigger=d["trigger"],
    )


async def add_message(uow: UnitOfWork, message: Message) -> None:
    """Queue a new message."""
    await uow.insert(MESSAGES, message.id, message_doc(message))


async def get_message(uow: UnitOfWork, message_id: str) -> tuple[Message, int] | None:
    """A message and its version inside a unit of work."""
    record = await uow.get(MESSAGES, message_id)
    return None if record is None else (message_from(record), record.version)


async def replace_message(uow: UnitOfWork, message: Message, *, version: int) -> None:
    """Write a message back (StaleWriteError if it changed meanwhile)."""
    await uow.replace(MESSAGES, message.id, message_doc(message), expected_version=version)


async def add_attempt(uow: UnitOfWork, attempt: Attempt) -> None:
    """Log one attempt."""
    await uow.insert(ATTEMPTS, attempt.id, attempt_doc(attempt))


async def due_for(store: Store, endpoint_id: str, *, limit: int) -> list[Message]:
    """An endpoint's pending messages, earliest due first (due or not)."""
    records = await store.find(
        MESSAGES,
        {"endpoint_id": endpoint_id, "state": State.PENDING.value},
        order_by="next_attempt_at",
        limit=limit,
    )
    return [message_from(r) for r in records]


async def in_state(
    store: Store, endpoint_id: str, state: State | None, *, limit: int
) -> list[Message]:
    """An endpoint's messages (optionally in one state), newest first."""
    where: dict[str, str | int | float | bool | None] = {"endpoint_id": endpoint_id}
    if state is not None:
        where["state"] = state.value
    records = await store.find(MESSAGES, where, order_by="created_at", descending=True, limit=limit)
    return [message_from(r) for r in records]


async def attempts_of(
    store: Store, *, endpoint_id: str | None = None, message_id: str | None = None, limit: int
) -> list[Attempt]:
    """Attempts of an endpoint or of one message, newest first."""
    where = {"endpoint_id": endpoint_id} if message_id is None else {"message_id": message_id}
    records = await store.find(ATTEMPTS, where, order_by="at", descending=True, limit=limit)
    return [attempt_from(r) for r in records]


def failed_since(messages: Sequence[Message], since: float) -> list[Message]:
    """The failed messages created at or after `since`."""
    return [m for m in messages if m.state is State.FAILED and m.created_at >= since]


async def all_in_state(store: Store, state: State, *, limit: int) -> list[Message]:
    """Messages of every endpoint in one state, newest first (the operator's overview)."""
    records = await store.find(
        MESSAGES, {"state": state.value}, order_by="created_at", descending=True, limit=limit
    )
    return [message_from(r) for r in records]
