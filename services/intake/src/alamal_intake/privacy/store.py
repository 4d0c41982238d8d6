"""Intake's repository for erasure requests (the tombstones) and legal holds."""

from __future__ import annotations

from datetime import datetime

from alamal_intake.privacy.domain import (
    ErasureBasis,
    ErasureReason,
    ErasureRequest,
    ErasureState,
    HoldReason,
    LegalHold,
)
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

ERASURE_REQUESTS = "erasure_requests"
LEGAL_HOLDS = "legal_holds"
MAX_REQUESTS = 5000
"""Most requests one listing reads (a family has a handful; the deletion log is paged)."""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def request_doc(request: ErasureRequest) -> Doc:
    """Serialise a request: ids, codes and dates only."""
    return {
        "family_id": request.family_id,
        "reason": request.reason.value,
        "basis": request.basis.value,
        "requested_by": request.requested_by,
        "requested_at": _iso(request.requested_at),
        "state": request.state.value,
        "wijk": request.wijk,
        "decided_by": request.decided_by,
        "decided_at": _iso(request.decided_at),
        "confirmations": {s: _iso(at) for s, at in request.confirmations.items()},
        "completed_at": _iso(request.completed_at),
    }


def request_from(record: Record) -> ErasureRequest:
    """Rebuild a request from its document."""
    d = record.data
    return ErasureRequest(
        id=record.id,
        family_id=d["family_id"],
        reason=ErasureReason(d["reason"]),
        basis=ErasureBasis(d["basis"]),
        requested_by=d["requested_by"],
        requested_at=datetime.fromisoformat(d["requested_at"]),
        state=ErasureState(d["state"]),
        wijk=d.get("wijk"),
        decided_by=d.get("decided_by"),
        decided_at=_dt(d.get("decided_at")),
        confirmations={s: datetime.fromisoformat(at) for s, at in d["confirmations"].items()},
        completed_at=_dt(d.get("completed_at")),
    )


async def add_request(uow: UnitOfWork, request: ErasureRequest) -> None:
    """Store a new request."""
    await uow.insert(ERASURE_REQUESTS, request.id, request_doc(request))


async def load_request(uow: UnitOfWork, request_id: str) -> tuple[ErasureRequest, int] | None:
    """A request and its version, inside a unit of work."""
    record = await uow.get(ERASURE_REQUESTS, request_id)
    return None if record is None else (request_from(record), record.version)


async def get_request(store: Store, request_id: str) -> ErasureRequest | None:
    """A request, or None."""
    record = await store.get(ERASURE_REQUESTS, request_id)
    return None if record is None else request_from(record)


async def replace_request(uow: UnitOfWork, request: ErasureRequest, *, version: int) -> None:
    """Store a request's new state; StaleWriteError if it changed since it was read."""
    await uow.replace(ERASURE_REQUESTS, request.id, request_doc(request), expected_version=version)


async def requests_of_family(store: Store, family_id: str) -> list[ErasureRequest]:
    """The family's requests, oldest first."""
    records = await store.find(
        ERASURE_REQUESTS, {"family_id": family_id}, order_by="requested_at", limit=MAX_REQUESTS
    )
    return [request_from(r) for r in records]


async def requests_in_state(
    store: Store, state: ErasureState | None, *, limit: int = MAX_REQUESTS
) -> list[ErasureRequest]:
    """Requests (optionally in one state), newest first."""
    where = None if state is None else {"state": state.value}
    records = await store.find(
        ERASURE_REQUESTS, where, order_by="requested_at", descending=True, limit=limit
    )
    return [request_from(r) for r in records]


def _hold_from(record: Record) -> LegalHold:
    d = record.data
    return LegalHold(
        family_id=record.id,
        reason=HoldReason(d["reason"]),
        since=datetime.fromisoformat(d["since"]),
        referral_ids=tuple(d["referral_ids"]),
    )


async def hold_of(reader: Store | UnitOfWork, family_id: str) -> LegalHold | None:
    """The family's legal hold, or None."""
    record = await reader.get(LEGAL_HOLDS, family_id)
    return None if record is None else _hold_from(record)


async def add_to_hold(uow: UnitOfWork, hold: LegalHold) -> None:
    """Put the family on hold, or add the referral to its hold (the earliest `since` stays)."""
    record = await uow.get(LEGAL_HOLDS, hold.family_id)
    if record is None:
        data = {
            "reason": hold.reason.value,
            "since": _iso(hold.since),
            "referral_ids": list(hold.referral_ids),
        }
        await uow.insert(LEGAL_HOLDS, hold.family_id, data)
        return
    current = _hold_from(record)
    referrals = sorted({*current.referral_ids, *hold.referral_ids})
    if referrals == list(current.referral_ids) and current.since <= hold.since:
        return
    data = {
        "reason": current.reason.value,
        "since": _iso(min(current.since, hold.since)),
        "referral_ids": referrals,
    }
    await uow.replace(LEGAL_HOLDS, hold.family_id, data, expected_version=record.version)


async def prepare(store: Store) -> None:
    """Indexes the privacy queries need."""
    await store.ensure_index(ERASURE_REQUESTS, ["family_id", "requested_at"])
    await store.ensure_index(ERASURE_REQUESTS, ["state", "requested_at"])
