"""Cases' HTTP API: a family's cases, one case, closing a case, and caseloads."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from alamal_cases import access, store
from alamal_cases.audit import (
    AuditedWrite,
    CasesAction,
    list_refusals,
    readable_case,
    record_shown,
)
from alamal_cases.deps import StoreDep
from alamal_cases.domain import CaseNotOpenError, CaseStatus, local_today
from alamal_cases.domain.caseload import caseload, loads
from alamal_cases.domain.cases import MAX_OUTCOME_CODES, CaseRejectedError, close_case
from alamal_cases.handlers import SOURCE
from alamal_cases.visits_api import cases_in_scope
from alamal_contracts.codes import Code, Wijk
from alamal_runtime.audit import DEFAULT_REASON, AccessReason, AuditOutcome, audit, entry
from alamal_runtime.auth import Role
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem, field_error
from alamal_runtime.store import StaleWriteError

router = APIRouter(tags=["cases"])
log = structlog.get_logger(__name__)
NOT_FOUND = "case not found"
READ_CASELOAD = "read-caseload"
"""The same code as the caseload of one trusted person (coordination_api)."""


class CaseOut(DomainView):
    """A case as shown to staff in scope."""

    id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    father_trusted_person_id: str | None
    status: CaseStatus
    opened_at: datetime
    closed_at: datetime | None
    outcome_codes: list[str]


class CloseIn(BaseModel):
    """Close a case with its outcome codes (codes only: the story stays in visits and plan)."""

    model_config = ConfigDict(extra="forbid")

    outcome_codes: list[Code] = Field(min_length=1, max_length=MAX_OUTCOME_CODES)


class CaseloadEntryOut(DomainView):
    """An open case on a caseload: ids, dates and counts."""

    case_id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    father_trusted_person_id: str | None
    opened_at: datetime
    visits: int
    last_contact_on: date | None
    next_follow_up_on: date | None
    days_overdue: int


class HolderLoadOut(DomainView):
    """Open and overdue cases of one trusted person."""

    trusted_person_id: str
    open_cases: int
    overdue_cases: int


@router.get("/cases", response_model=list[CaseOut])
async def list_cases(
    family_id: Annotated[uuid.UUID, Query()],
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> list[CaseOut]:
    """The family's cases the caller may see (empty when none, never revealing others);
    audited as allowed when it shows a case, as refused when it shows none."""
    cases = await store.cases_of_family(store_, str(family_id))
    shown = [c for c in cases if access.may_read(principal, c)]
    await audit(
        store_,
        entry(
            principal,
            action=CasesAction.LIST_CASES.value,
            family_id=str(family_id),
            outcome=AuditOutcome.ALLOWED if shown else AuditOutcome.DENIED_OR_MISSING,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )
    return [CaseOut.of(c) for c in shown]


@router.get("/cases/{case_id}", response_model=CaseOut)
async def read_case(
    case_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> CaseOut:
    """One case (audited); 404 when missing or outside the caller's scope."""
    return CaseOut.of(
        await readable_case(store_, case_id, principal, CasesAction.READ_CASE, reason)
    )


@router.post("/cases/{case_id}/close", response_model=CaseOut)
async def close(
    case_id: uuid.UUID,
    body: CloseIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> CaseOut:
    """Close a case with outcome codes (emits `cases.case-closed.v1`); 409 if already closed.
    Audited, refusals too."""
    write = AuditedWrite(store_, principal, CasesAction.CLOSE_CASE, reason)
    async with write.refusals():
        try:
            async with store_.transaction() as uow:
                found = await store.get_case_versioned(uow, str(case_id))
                write.about(found[0] if found else None)
                if found is None or not access.may_read(principal, found[0]):
                    raise HTTPProblem(404, NOT_FOUND)
                case, version = found
                if not access.may_close(principal, case):
                    raise HTTPProblem(
                        403, "only the case's trusted person or a coordinator closes it"
                    )
                closed, event = close_case(
                    case, tuple(body.outcome_codes), by=principal.user_id, now=datetime.now(UTC)
                )
                await store.replace_case(uow, closed, version=version)
                emit(uow, event, source=SOURCE)
                await write.done(uow)
        except CaseNotOpenError as exc:
            raise HTTPProblem(409, str(exc)) from None
        except CaseRejectedError as exc:
            raise field_error(exc.field, exc.message) from None
        except StaleWriteError:
            raise HTTPProblem(409, "the case changed meanwhile; reload and retry") from None
    log.info("case_closed", case_id=closed.id)
    return CaseOut.of(closed)


@router.get("/caseload", response_model=list[CaseloadEntryOut])
async def read_caseload(
    principal: CurrentPrincipal,
    store_: StoreDep,
    wijk: Wijk | None = None,
    reason: AccessReason = DEFAULT_REASON,
) -> list[CaseloadEntryOut]:
    """Open cases, overdue follow-ups first: a trusted person's own (also as the father's
    trusted person), or a coordinator's wijken (one wijk with `?wijk=`). Audited per family
    shown; a refusal once."""
    async with list_refusals(store_, principal, READ_CASELOAD, reason):
        cases = await cases_in_scope(store_, principal, wijk)
    visits = await store.visits_of_cases(store_, cases)
    today = local_today(datetime.now(UTC))
    entries = caseload(cases, visits, today)
    await record_shown(store_, principal, READ_CASELOAD, (e.family_id for e in entries), reason)
    return [CaseloadEntryOut.of(e) for e in entries]


@router.get("/caseloads", response_model=list[HolderLoadOut])
async def read_caseloads(
    principal: CurrentPrincipal, store_: StoreDep, wijk: Wijk | None = None
) -> list[HolderLoadOut]:
    """Per trusted person: open and overdue cases in the coordinator's wijken (403 otherwise)."""
    if principal.role is not Role.COORDINATOR:
        raise HTTPProblem(403, "caseloads per trusted person are for coordinators")
    cases = await cases_in_scope(store_, principal, wijk)
    visits = await store.visits_of_cases(store_, cases)
    today = local_today(datetime.now(UTC))
    return [HolderLoadOut.of(h) for h in loads(caseload(cases, visits, today))]
