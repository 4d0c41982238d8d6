"""Cases' access audit: every read of a family's case, notes, plan or referrals is recorded, and
every write (a visit, the plan, closing, each referral step), allowed or refused with the
refusal's code.

The record itself is the shared one (`alamal_runtime.audit`): ids and codes, never the notes.
A refused or missing case is recorded as one outcome, as the caller sees one answer for both.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum

from fastapi.exceptions import RequestValidationError

from alamal_cases import access, store
from alamal_cases.domain import Case
from alamal_runtime.audit import AuditOutcome, audit, entry, write_audit
from alamal_runtime.auth import Principal
from alamal_runtime.http import HTTPProblem
from alamal_runtime.store import Store, UnitOfWork

CASE_NOT_FOUND = "case not found"


class CasesAction(StrEnum):
    """What a caller read or changed in cases."""

    LIST_CASES = "list-cases"
    READ_CASE = "read-case"
    CLOSE_CASE = "close-case"
    LOG_VISIT = "log-visit"
    READ_OVERDUE = "read-overdue-follow-ups"
    WRITE_STRENGTHS = "write-strengths"
    SET_GOAL = "set-goal"
    CHANGE_GOAL = "change-goal"
    READ_VISITS = "read-visits"
    READ_VISIT = "read-visit"
    READ_PLAN = "read-plan"
    READ_REFERRALS = "read-referrals"
    READ_REFERRAL = "read-referral"
    PROPOSE_REFERRAL = "propose-referral"
    APPROVE_REFERRAL = "approve-referral"
    RECORD_MELDCODE_OVERRIDE = "record-meldcode-override"
    SEND_REFERRAL = "send-referral"
    RECORD_REFERRAL_ANSWER = "record-referral-answer"
    HOLD_VISIT = "hold-visit"
    DECIDE_HELD_VISIT = "decide-held-visit"


NOT_FOUND_OR_OUT_OF_SCOPE = "not-found-or-out-of-scope"
"""The refusal code of an attempt on a missing or out-of-scope case or referral (one answer)."""


async def record_read(
    store_: Store,
    principal: Principal,
    action: CasesAction,
    case: Case | None,
    *,
    allowed: bool,
    reason: str,
) -> None:
    """Write one audit record for a read attempt (its own unit of work)."""
    await audit(
        store_,
        entry(
            principal,
            action=action.value,
            family_id=None if case is None else case.family_id,
            outcome=AuditOutcome.ALLOWED if allowed else AuditOutcome.DENIED_OR_MISSING,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )


async def record_step(
    store_: Store,
    principal: Principal,
    action: CasesAction,
    family_id: str | None,
    *,
    reason: str,
    refusal: str,
) -> None:
    """Audit a refused write attempt (its own unit of work: the attempt's was rolled back)."""
    await audit(
        store_,
        entry(
            principal,
            action=action.value,
            family_id=family_id,
            outcome=AuditOutcome.DENIED_OR_MISSING,
            reason=reason,
            now=datetime.now(UTC),
            refusal=refusal,
        ),
    )


async def record_step_done(
    uow: UnitOfWork, principal: Principal, action: CasesAction, family_id: str, *, reason: str
) -> None:
    """Audit an allowed write in the unit of work that makes it (both or neither are stored)."""
    await write_audit(
        uow,
        entry(
            principal,
            action=action.value,
            family_id=family_id,
            outcome=AuditOutcome.ALLOWED,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )


async def readable_case(
    store_: Store, case_id: uuid.UUID, principal: Principal, action: CasesAction, reason: str
) -> Case:
    """The case if the caller may read it, audited either way; 404 otherwise."""
    case = await store.get_case(store_, str(case_id))
    allowed = case is not None and access.may_read(principal, case)
    await record_read(store_, principal, action, case, allowed=allowed, reason=reason)
    if case is None or not allowed:
        raise HTTPProblem(404, CASE_NOT_FOUND)
    return case


async def record_shown(
    store_: Store, principal: Principal, action: str, family_ids: Iterable[str], reason: str
) -> None:
    """One audit record per family a list showed, in one unit of work (none when empty)."""
    unique = sorted(set(family_ids))
    if not unique:
        return
    now = datetime.now(UTC)
    async with store_.transaction() as uow:
        for family_id in unique:
            await write_audit(
                uow,
                entry(
                    principal,
                    action=action,
                    family_id=family_id,
                    outcome=AuditOutcome.ALLOWED,
                    reason=reason,
                    now=now,
                ),
            )


async def record_refused_list(
    store_: Store, principal: Principal, action: str, reason: str, refusal: str
) -> None:
    """A list refused to the caller's role: one record, naming no family."""
    await audit(
        store_,
        entry(
            principal,
            action=action,
            family_id=None,
            outcome=AuditOutcome.DENIED_OR_MISSING,
            reason=reason,
            now=datetime.now(UTC),
            refusal=refusal,
        ),
    )


@asynccontextmanager
async def list_refusals(
    store_: Store, principal: Principal, action: str, reason: str
) -> AsyncIterator[None]:
    """Audit a list refused inside (the caller's role or wijk), then let the refusal through."""
    try:
        yield
    except HTTPProblem as problem:
        code = REFUSALS.get(problem.status_code, f"http-{problem.status_code}")
        await record_refused_list(store_, principal, action, reason, code)
        raise


REFUSALS = {404: NOT_FOUND_OR_OUT_OF_SCOPE, 403: "role-not-allowed", 409: "state-conflict"}


class AuditedWrite:
    """One write attempt's audit record: the allowed write in its own unit of work (both or
    neither are stored), a refusal (404, 403, 409 or 422) in a unit of work of its own.

        write = AuditedWrite(store_, principal, CasesAction.LOG_VISIT, reason)
        async with write.refusals(), store_.transaction() as uow:
            case = ...; write.about(case)   # as soon as the case is loaded
            ...
            await write.done(uow)
    """

    def __init__(
        self, store_: Store, principal: Principal, action: CasesAction, reason: str
    ) -> None:
        self._store = store_
        self._principal = principal
        self._action = action
        self._reason = reason
        self.family_id: str | None = None

    def about(self, case: Case | None) -> None:
        """The case the attempt is about (its family is recorded, refused or not)."""
        if case is not None:
            self.family_id = case.family_id

    async def done(self, uow: UnitOfWork) -> None:
        """Record the allowed write in the unit of work that makes it."""
        if self.family_id is None:
            raise ValueError("about(case) first: an allowed write names its family")
        await record_step_done(
            uow, self._principal, self._action, self.family_id, reason=self._reason
        )

    @asynccontextmanager
    async def refusals(self) -> AsyncIterator[AuditedWrite]:
        """Audit the refusal raised inside (after the rollback), then let it through."""
        try:
            yield self
        except HTTPProblem as problem:
            await self._refused(REFUSALS.get(problem.status_code, f"http-{problem.status_code}"))
            raise
        except RequestValidationError:
            await self._refused("invalid-input")
            raise

    async def _refused(self, code: str) -> None:
        await record_step(
            self._store,
            self._principal,
            self._action,
            self.family_id,
            reason=self._reason,
            refusal=code,
        )
