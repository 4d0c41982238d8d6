"""Cases' store for offline visits: the idempotency keys devices send, and held visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from alamal_cases.domain import LogVisit
from alamal_cases.domain.held_visits import HeldState, HeldVisit, HoldReason
from alamal_contracts.codes import TopicCode, VisitKind
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

VISIT_KEYS = "visit_keys"
HELD_VISITS = "held_visits"
MAX_HELD = 500
"""How many held visits one list reads (a wijk's inbox, a trusted person's own)."""


class KeyOutcome(StrEnum):
    """What the first request with an idempotency key did."""

    LOGGED = "logged"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class UsedKey:
    """An idempotency key a device sent, and what its first request did."""

    fingerprint: str
    outcome: KeyOutcome
    ref_id: str
    """The visit's id (logged) or the held visit's id (held)."""


def key_id(user_id: str, key: str) -> str:
    """Keys are the device's own: scoped to the user, so another user's key never collides."""
    return f"{user_id}:{key}"


async def used_key(uow: UnitOfWork, user_id: str, key: str) -> UsedKey | None:
    """The first use of this user's key, read inside a unit of work."""
    record = await uow.get(VISIT_KEYS, key_id(user_id, key))
    if record is None:
        return None
    d = record.data
    return UsedKey(d["fingerprint"], KeyOutcome(d["outcome"]), d["ref_id"])


async def use_key(
    uow: UnitOfWork,
    user_id: str,
    key: str,
    used: UsedKey,
    *,
    case_id: str,
    family_id: str,
    at: datetime,
) -> None:
    """Record the key's first use with its effect (DuplicateError when a twin came first)."""
    await uow.insert(
        VISIT_KEYS,
        key_id(user_id, key),
        {
            "fingerprint": used.fingerprint,
            "outcome": used.outcome.value,
            "ref_id": used.ref_id,
            "case_id": case_id,
            "family_id": family_id,
            "at": at.isoformat(),
        },
    )


def _command_doc(visit: LogVisit) -> Doc:
    return {
        "kind": visit.kind.value,
        "occurred_on": visit.occurred_on.isoformat(),
        "duration_minutes": visit.duration_minutes,
        "topic_codes": [t.value for t in visit.topic_codes],
        "strengths_observed": list(visit.strengths_observed),
        "private_note": visit.private_note,
        "follow_up_on": None if visit.follow_up_on is None else visit.follow_up_on.isoformat(),
    }


def _command(d: Doc) -> LogVisit:
    return LogVisit(
        kind=VisitKind(d["kind"]),
        occurred_on=date.fromisoformat(d["occurred_on"]),
        duration_minutes=d["duration_minutes"],
        topic_codes=tuple(TopicCode(t) for t in d["topic_codes"]),
        strengths_observed=tuple(d["strengths_observed"]),
        private_note=d["private_note"],
        follow_up_on=None if d["follow_up_on"] is None else date.fromisoformat(d["follow_up_on"]),
    )


def held_to_doc(held: HeldVisit) -> Doc:
    """Serialise a held visit (the visit's fields at the top level, like a logged visit's)."""
    return {
        "case_id": held.case_id,
        "family_id": held.family_id,
        "wijk": held.wijk,
        "author_id": held.author_id,
        "reason": held.reason.value,
        **_command_doc(held.visit),
        "captured_at": held.captured_at.isoformat(),
        "held_at": held.held_at.isoformat(),
        "state": held.state.value,
        "decided_by": held.decided_by,
        "decided_at": None if held.decided_at is None else held.decided_at.isoformat(),
        "visit_id": held.visit_id,
    }


def held_from_record(record: Record) -> HeldVisit:
    """Rebuild a held visit."""
    d = record.data
    return HeldVisit(
        id=record.id,
        case_id=d["case_id"],
        family_id=d["family_id"],
        wijk=d["wijk"],
        author_id=d["author_id"],
        reason=HoldReason(d["reason"]),
        visit=_command(d),
        captured_at=datetime.fromisoformat(d["captured_at"]),
        held_at=datetime.fromisoformat(d["held_at"]),
        state=HeldState(d["state"]),
        decided_by=d["decided_by"],
        decided_at=None if d["decided_at"] is None else datetime.fromisoformat(d["decided_at"]),
        visit_id=d["visit_id"],
    )


async def add_held(uow: UnitOfWork, held: HeldVisit) -> None:
    """Store a new held visit."""
    await uow.insert(HELD_VISITS, held.id, held_to_doc(held))


async def get_held(store: Store, held_id: str) -> HeldVisit | None:
    """One held visit, or None."""
    record = await store.get(HELD_VISITS, held_id)
    return None if record is None else held_from_record(record)


async def get_held_versioned(uow: UnitOfWork, held_id: str) -> tuple[HeldVisit, int] | None:
    """One held visit and its version, inside a unit of work (for a guarded replace)."""
    record = await uow.get(HELD_VISITS, held_id)
    return None if record is None else (held_from_record(record), record.version)


async def replace_held(uow: UnitOfWork, held: HeldVisit, *, version: int) -> None:
    """Store a held visit's decision; StaleWriteError if another decision came first."""
    await uow.replace(HELD_VISITS, held.id, held_to_doc(held), expected_version=version)


async def held_in_wijk(store: Store, wijk: str, state: HeldState) -> list[HeldVisit]:
    """Held visits of one wijk in one state, oldest first."""
    records = await store.find(
        HELD_VISITS, {"wijk": wijk, "state": state.value}, order_by="held_at", limit=MAX_HELD
    )
    return [held_from_record(r) for r in records]


async def held_by_author(store: Store, author_id: str) -> list[HeldVisit]:
    """The held visits one trusted person captured, newest first."""
    records = await store.find(
        HELD_VISITS,
        {"author_id": author_id},
        order_by="held_at",
        descending=True,
        limit=MAX_HELD,
    )
    return [held_from_record(r) for r in records]


async def prepare(store: Store) -> None:
    """Indexes the inbox and a trusted person's list need."""
    await store.ensure_index(HELD_VISITS, ["wijk", "state", "held_at"])
    await store.ensure_index(HELD_VISITS, ["author_id", "held_at"])
