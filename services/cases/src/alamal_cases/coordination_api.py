"""A coordinator's day and a trusted person's agenda: approvals inbox, agenda, one caseload.

Read-only views over cases in the caller's scope, each audited per family it shows (ids and
codes only; the list itself never carries a note). Scope as elsewhere: a trusted person sees
her own cases; a coordinator her wijken; every other role gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from alamal_cases import coordination_store, store
from alamal_cases.api import CaseloadEntryOut
from alamal_cases.audit import list_refusals, record_shown
from alamal_cases.deps import StoreDep
from alamal_cases.domain import Case, local_today
from alamal_cases.domain.agenda import agenda
from alamal_cases.domain.caseload import caseload
from alamal_cases.domain.referrals import ReferralState
from alamal_cases.visits_api import cases_in_scope
from alamal_contracts.codes import PartnerKind, Urgency, Wijk
from alamal_runtime.audit import (
    DEFAULT_REASON,
    AccessReason,
)
from alamal_runtime.auth import Principal, Role
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem
from alamal_runtime.store import Store

router = APIRouter(tags=["coordination"])

URGENCY_ORDER = {Urgency.ACUTE: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


class ListAction(StrEnum):
    """What a caller read through one of these lists (audit codes)."""

    READ_APPROVALS = "read-approvals"
    READ_AGENDA = "read-agenda"
    READ_CASELOAD = "read-caseload"
    READ_HELD_VISITS = "read-held-visits"


async def audit_families(
    store_: Store, principal: Principal, action: ListAction, family_ids: Iterable[str], reason: str
) -> None:
    """One audit record per family a list showed, in one unit of work (none when empty)."""
    await record_shown(store_, principal, action.value, family_ids, reason)


class ApprovalOut(BaseModel):
    """A routine referral waiting for a coordinator: codes and ids, no note."""

    referral_id: str
    case_id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    partner_id: str
    partner_kind: PartnerKind
    urgency: Urgency
    reason_codes: list[str]
    proposed_by: str
    proposed_at: datetime


@router.get("/approvals", response_model=list[ApprovalOut])
async def approvals(
    principal: CurrentPrincipal,
    store_: StoreDep,
    wijk: Wijk | None = None,
    reason: AccessReason = DEFAULT_REASON,
) -> list[ApprovalOut]:
    """Referrals proposed on open cases in the coordinator's wijken, most urgent and oldest
    first (403 for other roles, and for a wijk outside hers)."""
    async with list_refusals(store_, principal, ListAction.READ_APPROVALS.value, reason):
        if principal.role is not Role.COORDINATOR:
            raise HTTPProblem(403, "the approvals inbox is for coordinators")
        cases = {c.id: c for c in await cases_in_scope(store_, principal, wijk)}
    waiting = [
        (r, cases[r.case_id])
        for r in await coordination_store.referrals_in_state(store_, ReferralState.PROPOSED)
        if r.case_id in cases
    ]
    waiting.sort(key=lambda rc: (URGENCY_ORDER[rc[0].urgency], rc[0].proposed_at, rc[0].id))
    await audit_families(
        store_, principal, ListAction.READ_APPROVALS, (r.family_id for r, _ in waiting), reason
    )
    return [
        ApprovalOut(
            referral_id=r.id,
            case_id=r.case_id,
            family_id=r.family_id,
            wijk=case.wijk,
            trusted_person_id=case.trusted_person_id,
            partner_id=r.partner_id,
            partner_kind=r.partner_kind,
            urgency=r.urgency,
            reason_codes=list(r.reason_codes),
            proposed_by=r.proposed_by,
            proposed_at=r.proposed_at,
        )
        for r, case in waiting
    ]


class AgendaItemOut(DomainView):
    """A planned follow-up: ids and dates."""

    case_id: str
    family_id: str
    visit_id: str
    trusted_person_id: str
    father_trusted_person_id: str | None
    follow_up_on: date
    days_overdue: int


async def _holders_cases(
    store_: Store, principal: Principal, trusted_person_id: uuid.UUID | None
) -> list[Case]:
    """Open cases of one trusted person as the caller may see them (all hers when None)."""
    if principal.role is Role.TRUSTED_PERSON:
        if trusted_person_id is not None and str(trusted_person_id) != principal.user_id:
            raise HTTPProblem(403, "a trusted person sees her own agenda and caseload only")
        return await store.cases_held_by(store_, principal.user_id)
    cases = await cases_in_scope(store_, principal, None)  # 403 for roles without casework
    if trusted_person_id is None:
        return cases
    return [c for c in cases if c.held_by(str(trusted_person_id))]


@router.get("/agenda", response_model=list[AgendaItemOut])
async def read_agenda(
    principal: CurrentPrincipal,
    store_: StoreDep,
    trusted_person_id: uuid.UUID | None = None,
    days: Annotated[int, Query(ge=0, le=62)] = 7,
    reason: AccessReason = DEFAULT_REASON,
) -> list[AgendaItemOut]:
    """Follow-ups due within `days` (overdue ones first by date): a trusted person's own, or
    for a coordinator one trusted person's in her wijken (all of her wijken without one)."""
    async with list_refusals(store_, principal, ListAction.READ_AGENDA.value, reason):
        cases = await _holders_cases(store_, principal, trusted_person_id)
    visits = await store.visits_of_cases(store_, cases)
    items = agenda(cases, visits, local_today(datetime.now(UTC)), days=days)
    await audit_families(
        store_, principal, ListAction.READ_AGENDA, (i.family_id for i in items), reason
    )
    return [AgendaItemOut.of(i) for i in items]


@router.get("/caseloads/{trusted_person_id}", response_model=list[CaseloadEntryOut])
async def read_holders_caseload(
    trusted_person_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> list[CaseloadEntryOut]:
    """One trusted person's open cases (overdue first) in the coordinator's wijken; a
    trusted person may ask for her own only."""
    async with list_refusals(store_, principal, ListAction.READ_CASELOAD.value, reason):
        cases = await _holders_cases(store_, principal, trusted_person_id)
    visits = await store.visits_of_cases(store_, cases)
    entries = caseload(cases, visits, local_today(datetime.now(UTC)))
    await audit_families(
        store_, principal, ListAction.READ_CASELOAD, (e.family_id for e in entries), reason
    )
    return [CaseloadEntryOut.of(e) for e in entries]
