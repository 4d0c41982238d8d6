"""Dead letters an operator can find, replay and close, named the same everywhere.

A letter's name is `<consumer>:<source topic>:<partition>:<offset>`, e.g.
`cases:intake.family-registered.v1:2:17`: which service could not handle which record. The
service notes every letter it dead-letters in its own store (`ops_dead_letters`: codes, ids and
positions, never values), and its operator routes list, show, replay and resolve them by that
name; the gateway's operator page and `alamal-ops` show the same names and states:

- `open`: nobody acted yet;
- `replayed`: the original record was published again to its topic (the service handles it as
  any delivery; the inbox absorbs it if it was handled meanwhile);
- `failed-again`: the replay was dead-lettered too; `failed_again_as` names the new letter;
- `resolved`: an operator closed it with a reason code (audited) because it will never succeed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from alamal_contracts.events import EVENTS_BY_TYPE
from alamal_runtime.messaging.dead_letter import (
    DeadLetter,
    DeadLetterPosition,
    DeadLetterSink,
    reason_code,
)
from alamal_runtime.redaction import is_id
from alamal_runtime.store import Record, StaleWriteError, Store, StoreError

DEAD_LETTER_LOG = "ops_dead_letters"
"""The service's own log of what it dead-lettered: codes and positions only, never values."""
REPLAY_OF = "dlq-replay-of"
"""Header a replayed record carries: the name of the letter it replays."""
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,100}:[a-z0-9][a-z0-9.-]{0,199}:[0-9]{1,9}:[0-9]{1,19}$"
_NAME = re.compile(NAME_PATTERN)
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_ERROR_TYPE = re.compile(r"handler failed after \d+ attempts: ([A-Za-z_][A-Za-z0-9_]{0,80})$")


class LetterState(StrEnum):
    """Where a dead letter stands."""

    OPEN = "open"
    REPLAYED = "replayed"
    FAILED_AGAIN = "failed-again"
    RESOLVED = "resolved"


class ResolveReason(StrEnum):
    """Why an operator closes a letter that will never succeed."""

    INVALID_DATA = "invalid-data"
    """The record can never be read as an event of the contracts."""
    SUPERSEDED = "superseded"
    """Later events made it pointless (a newer state of the same entity was handled)."""
    DUPLICATE = "duplicate"
    """The same event was handled through another delivery."""
    HANDLED_MANUALLY = "handled-manually"
    """The effect was brought about by hand."""
    FAMILY_ERASED = "family-erased"
    """The family's data was erased; the event must not be applied any more."""
    TEST_DATA = "test-data"
    """Not a real event (a test or a misconfigured producer)."""


class LetterError(Exception):
    """An action on a letter that cannot be done; the message is safe to show."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def letter_name(consumer: str, topic: str, partition: int, offset: int) -> str:
    """The one name of a dead letter in the page, the tool and the API."""
    return f"{consumer}:{topic}:{partition}:{offset}"


def is_letter_name(text: str) -> bool:
    """True if `text` is shaped like a letter's name."""
    return _NAME.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Letter:
    """What an operator may see of a dead letter: where, why, which event, what became of it."""

    name: str
    consumer: str
    topic: str
    partition: int
    offset: int
    reason: str
    """A reason code: invalid_event, handler_failed or other."""
    error_type: str | None
    event_type: str | None
    event_id: str | None
    family_id: str | None
    at: str
    state: LetterState
    trace_id: str | None = None
    """The trace of the event that failed (from its `traceparent`), to look it up in the UI."""
    value_bytes: int | None = None
    header_names: tuple[str, ...] = ()
    dead_letter_topic: str | None = None
    dead_letter_partition: int | None = None
    dead_letter_offset: int | None = None
    replay_of: str | None = None
    replayed_at: str | None = None
    replayed_by: str | None = None
    republished_as: str | None = None
    failed_again_as: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the API answers it."""
        return {**asdict(self), "header_names": list(self.header_names)}


def _letter(record: Record) -> Letter:
    d = record.data
    name = d.get("name") or letter_name(d["consumer"], d["topic"], d["partition"], d["offset"])
    return Letter(
        name=name,
        consumer=d["consumer"],
        topic=d["topic"],
        partition=d["partition"],
        offset=d["offset"],
        reason=d["reason"],
        error_type=d.get("error_type"),
        event_type=d.get("event_type"),
        event_id=d.get("event_id"),
        family_id=d.get("family_id"),
        at=d["at"],
        state=LetterState(d.get("state", LetterState.OPEN)),
        trace_id=d.get("trace_id"),
        value_bytes=d.get("value_bytes"),
        header_names=tuple(d.get("header_names", ())),
        dead_letter_topic=d.get("dead_letter_topic"),
        dead_letter_partition=d.get("dead_letter_partition"),
        dead_letter_offset=d.get("dead_letter_offset"),
        replay_of=d.get("replay_of"),
        replayed_at=d.get("replayed_at"),
        replayed_by=d.get("replayed_by"),
        republished_as=d.get("republished_as"),
        failed_again_as=d.get("failed_again_as"),
        resolved_at=d.get("resolved_at"),
        resolved_by=d.get("resolved_by"),
        resolution=d.get("resolution"),
    )


def _header(letter: DeadLetter, name: str) -> str | None:
    for key, raw in letter.headers:
        if key == name and raw is not None:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _note(letter: DeadLetter, position: DeadLetterPosition | None) -> dict[str, Any]:
    event_type = _header(letter, "ce_type")
    event_id = _header(letter, "ce_id")
    key = letter.key.decode("utf-8", "replace") if letter.key else None
    replay_of = _header(letter, REPLAY_OF)
    error = _ERROR_TYPE.search(letter.reason)
    trace = _TRACEPARENT.fullmatch(_header(letter, "traceparent") or "")
    return {
        "name": letter_name(
            letter.consumer, letter.source_topic, letter.source_partition, letter.source_offset
        ),
        "consumer": letter.consumer,
        "topic": letter.source_topic,
        "partition": letter.source_partition,
        "offset": letter.source_offset,
        "reason": reason_code(letter.reason),
        "error_type": error.group(1) if error else None,
        # Only a type of the contracts and ids are kept; anything else is input (a name, say).
        "event_type": event_type if event_type in EVENTS_BY_TYPE else None,
        "event_id": event_id if event_id and is_id(event_id) else None,
        "family_id": key if key and is_id(key) else None,
        "trace_id": trace.group(1) if trace else None,
        "value_bytes": len(letter.value),
        "header_names": sorted({name for name, _ in letter.headers}),
        "dead_letter_topic": position.topic if position else None,
        "dead_letter_partition": position.partition if position else None,
        "dead_letter_offset": position.offset if position else None,
        "replay_of": replay_of if replay_of and is_letter_name(replay_of) else None,
        "state": LetterState.OPEN.value,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
    }


class NotingDeadLetterSink:
    """Dead-letters through the wrapped sink, then notes the letter in the service's store (for
    the operator page and tool); a letter that replays another marks that one failed again."""

    def __init__(self, inner: DeadLetterSink, store: Store) -> None:
        self._inner = inner
        self._store = store

    async def send(self, letter: DeadLetter) -> DeadLetterPosition | None:
        """Dead-letter durably first; the note is best effort after it (the topic is the truth)."""
        position = await self._inner.send(letter)
        note = _note(letter, position)
        try:
            async with self._store.transaction() as uow:
                if await uow.get(DEAD_LETTER_LOG, note["name"]) is not None:
                    return position  # delivered twice before the offset was committed
                await uow.insert(DEAD_LETTER_LOG, note["name"], note)
                if note["replay_of"] is not None:
                    replayed = await uow.get(DEAD_LETTER_LOG, note["replay_of"])
                    if replayed is not None:
                        await uow.replace(
                            DEAD_LETTER_LOG,
                            replayed.id,
                            replayed.data
                            | {
                                "state": LetterState.FAILED_AGAIN.value,
                                "failed_again_as": note["name"],
                            },
                            expected_version=replayed.version,
                        )
        except StoreError:
            pass
        return position


async def list_letters(
    store: Store, *, state: LetterState | None = None, limit: int = 100
) -> list[Letter]:
    """The service's dead letters, newest first (optionally in one state)."""
    where = {"state": state.value} if state else None
    records = await store.find(DEAD_LETTER_LOG, where, order_by="at", descending=True, limit=limit)
    return [_letter(r) for r in records]


async def get_letter(store: Store, name: str) -> Letter:
    """One letter by name; LetterError 404 if this service has none of that name."""
    record = await store.get(DEAD_LETTER_LOG, name) if is_letter_name(name) else None
    if record is None:
        raise LetterError(404, "no dead letter of that name in this service")
    return _letter(record)


class Republisher(Protocol):
    """Reads a dead-letter record back and publishes it to its source topic again."""

    async def republish(self, letter: Letter) -> str:
        """Publish the letter's original record again; return where (`topic:partition:offset`)."""


async def replay_letter(store: Store, name: str, *, by: str, republisher: Republisher) -> Letter:
    """Publish an open letter's original record to its topic again and mark it replayed."""
    letter = await get_letter(store, name)
    if letter.state is not LetterState.OPEN:
        raise LetterError(409, f"the letter is {letter.state.value}: only open letters replay")
    republished = await republisher.republish(letter)
    return await _change(
        store,
        name,
        {
            "state": LetterState.REPLAYED.value,
            "replayed_at": _now(),
            "replayed_by": by,
            "republished_as": republished,
        },
        from_states={LetterState.OPEN},
    )


async def resolve_letter(store: Store, name: str, *, by: str, reason: ResolveReason) -> Letter:
    """Close an open (or failed-again) letter for good, with the reason."""
    return await _change(
        store,
        name,
        {
            "state": LetterState.RESOLVED.value,
            "resolved_at": _now(),
            "resolved_by": by,
            "resolution": reason.value,
        },
        from_states={LetterState.OPEN, LetterState.FAILED_AGAIN},
    )


async def _change(
    store: Store, name: str, fields: dict[str, Any], *, from_states: set[LetterState]
) -> Letter:
    letter = await get_letter(store, name)
    if letter.state not in from_states:
        allowed = " or ".join(sorted(s.value for s in from_states))
        raise LetterError(409, f"the letter is {letter.state.value}; this needs {allowed}")
    try:
        async with store.transaction() as uow:
            record = await uow.get(DEAD_LETTER_LOG, name)
            if record is None:  # pragma: no cover - read a moment ago; letters are never deleted
                raise LetterError(404, "no dead letter of that name in this service")
            if LetterState(record.data.get("state", "open")) not in from_states:
                raise LetterError(409, "the letter changed meanwhile; look at it again")
            changed = await uow.replace(
                DEAD_LETTER_LOG, name, record.data | fields, expected_version=record.version
            )
    except StaleWriteError:
        raise LetterError(409, "the letter changed meanwhile; look at it again") from None
    return _letter(changed)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


async def prepare_dead_letters(store: Store) -> None:
    """Indexes the operator queries need."""
    await store.ensure_index(DEAD_LETTER_LOG, ["at"])
    await store.ensure_index(DEAD_LETTER_LOG, ["state", "at"])
