"""Cases' access audit: every read of a family's notes, plan or referrals is recorded, and every
referral step (allowed or refused, with the refusal's code).

The record itself is the shared one (`alamal_runtime.audit`): ids and codes, never the notes.
A refused or missing case is recorded as one outcome, as the caller sees one answer for both.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from alamal_cases import access, store
from alamal_cases.domain import Case
from alamal_runtime.audit import AuditOutcome, audit, entry, write_audit
from alamal_runtime.auth import Principal
from alamal_runtime.http import HTTPProblem
from alamal_runtime.store import Store, UnitOfWork

CASE_NOT_FOUND = "case not found"


class CasesAction(StrEnum):
    """What a caller read in cases."""

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
