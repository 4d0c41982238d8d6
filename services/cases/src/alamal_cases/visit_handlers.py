"""Logging a visit once per device-made key, and holding offline visits that met a changed case.

One handler for every entry point that logs a visit (the web form, a device's offline queue,
a later batch): it takes the unit of work, so the key, the visit (or the held visit), the
event and the audit record are stored together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alamal_cases import access, held_visit_store, store
from alamal_cases.audit import NOT_FOUND_OR_OUT_OF_SCOPE, CasesAction
from alamal_cases.domain import (
    Case,
    CaseNotOpenError,
    DomainError,
    LogVisit,
    Visit,
    VisitRejectedError,
    log_visit,
)
from alamal_cases.domain.cases import visit_logged
from alamal_cases.domain.held_visits import HeldVisit, HoldReason, hold_reason, hold_visit
from alamal_cases.handlers import SOURCE
from alamal_cases.held_visit_store import KeyOutcome, UsedKey
from alamal_runtime.audit import AuditOutcome, entry, write_audit
from alamal_runtime.auth import Principal, Role
from alamal_runtime.events import emit
from alamal_runtime.store import UnitOfWork


class VisitRefusedError(DomainError):
    """A refused visit: `code` is the refusal audited; `family_id` the case's, when known."""

    code = "refused"

    def __init__(self, message: str, *, family_id: str | None = None) -> None:
        super().__init__(message)
        self.family_id = family_id


class CaseNotFoundError(VisitRefusedError):
    """No such case, or not one the caller may log on (one answer for both)."""

    code = NOT_FOUND_OR_OUT_OF_SCOPE


class CaseClosedError(VisitRefusedError):
    """The case is closed, and the visit was not captured offline (nothing to hold)."""

    code = "case-closed"


class InvalidVisitError(VisitRefusedError):
    """A field breaks a visit rule; `field` names it (the message never quotes values)."""

    code = "invalid-visit"

    def __init__(self, field: str, message: str, *, family_id: str) -> None:
        super().__init__(message, family_id=family_id)
        self.field = field
        self.message = message


class KeyReusedError(VisitRefusedError):
    """The idempotency key was used before for a different visit."""

    code = "idempotency-key-reused"


class GoneError(VisitRefusedError):
    """The key's first result no longer exists (the family's data was erased)."""

    code = "erased"


@dataclass(frozen=True, slots=True)
class RecordVisit:
    """Log a contact on a case; with `captured_at`, one a device saved while offline."""

    case_id: str
    visit: LogVisit
    key: str | None = None
    """The idempotency key the device made; the same key is applied once."""
    fingerprint: str = ""
    """A digest of the request, to tell a retry from another visit under the same key."""
    captured_at: datetime | None = None
    access_reason: str = "casework"
    """Why the caller works on the family (recorded in the access audit)."""


@dataclass(frozen=True, slots=True)
class Logged:
    """The visit is on the case (now, or by the key's first request when `replayed`)."""

    visit: Visit
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """The offline visit is held for a coordinator (now, or by the key's first request)."""

    held: HeldVisit
    replayed: bool = False


def fingerprint(case_id: str, body: dict[str, Any]) -> str:
    """A stable digest of a visit request (case and body as JSON with sorted keys)."""
    canonical = json.dumps({"case_id": case_id, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_visit(
    uow: UnitOfWork, principal: Principal, command: RecordVisit, *, new_id: str, now: datetime
) -> Logged | Held:
    """Apply the command once per key: log the visit, hold it, or answer the first result."""
    if command.key is not None:
        first = await held_visit_store.used_key(uow, principal.user_id, command.key)
        if first is not None:
            return await _replay(uow, first, command)
    case = await store.get_case_in(uow, command.case_id)
    reason = _offline_conflict(principal, case, command)
    if case is None or (reason is None and not access.may_log_visit(principal, case)):
        raise CaseNotFoundError("case not found")
    result = _decide(case, principal, command, reason, new_id=new_id, now=now)
    if isinstance(result, Held):
        await held_visit_store.add_held(uow, result.held)
        action, outcome = CasesAction.HOLD_VISIT, KeyOutcome.HELD
    else:
        await store.add_visit(uow, result.visit)
        emit(uow, visit_logged(result.visit), source=SOURCE)
        action, outcome = CasesAction.LOG_VISIT, KeyOutcome.LOGGED
    if command.key is not None:
        await held_visit_store.use_key(
            uow,
            principal.user_id,
            command.key,
            UsedKey(command.fingerprint, outcome, new_id),
            case_id=case.id,
            family_id=case.family_id,
            at=now,
        )
    await write_audit(
        uow,
        entry(
            principal,
            action=action.value,
            family_id=case.family_id,
            outcome=AuditOutcome.ALLOWED,
            reason=command.access_reason,
            now=now,
        ),
    )
    return result


def _decide(
    case: Case,
    principal: Principal,
    command: RecordVisit,
    reason: HoldReason | None,
    *,
    new_id: str,
    now: datetime,
) -> Logged | Held:
    """The visit or the held visit the command makes (refusals as VisitRefusedError)."""
    try:
        if reason is not None and command.captured_at is not None:
            held = hold_visit(
                case,
                command.visit,
                held_id=new_id,
                by=principal.user_id,
                reason=reason,
                captured_at=command.captured_at,
                now=now,
            )
            return Held(held)
        visit, _ = log_visit(case, command.visit, visit_id=new_id, by=principal.user_id, now=now)
        return Logged(visit)
    except CaseNotOpenError:
        raise CaseClosedError("the case is closed", family_id=case.family_id) from None
    except VisitRejectedError as exc:
        raise InvalidVisitError(exc.field, exc.message, family_id=case.family_id) from None


def _offline_conflict(
    principal: Principal, case: Case | None, command: RecordVisit
) -> HoldReason | None:
    """Why an offline visit meets a changed case (None when online, or nothing changed).

    Only someone who may log on the case, or a trusted person who held it before a
    reassignment, gets a reason: to anyone else the case stays unknown.
    """
    if case is None or command.captured_at is None:
        return None
    if access.may_log_visit(principal, case):
        return hold_reason(case, principal.user_id)
    if principal.role is Role.TRUSTED_PERSON and principal.user_id in case.former_holders:
        return hold_reason(case, principal.user_id)
    return None


async def _replay(uow: UnitOfWork, used: UsedKey, command: RecordVisit) -> Logged | Held:
    if used.fingerprint != command.fingerprint:
        raise KeyReusedError("this idempotency key was used for another visit")
    # The key's first request was allowed and audited; a retry reads nothing new.
    if used.outcome is KeyOutcome.LOGGED:
        record = await uow.get(store.VISITS, used.ref_id)
        if record is None:
            raise GoneError("the visit of this key no longer exists")
        return Logged(store.visit_from_record(record), replayed=True)
    found = await held_visit_store.get_held_versioned(uow, used.ref_id)
    if found is None:
        raise GoneError("the held visit of this key no longer exists")
    return Held(found[0], replayed=True)


__all__ = [
    "CaseClosedError",
    "CaseNotFoundError",
    "GoneError",
    "Held",
    "InvalidVisitError",
    "KeyReusedError",
    "Logged",
    "RecordVisit",
    "VisitRefusedError",
    "fingerprint",
    "record_visit",
]
