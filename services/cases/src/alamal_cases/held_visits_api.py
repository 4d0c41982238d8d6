"""Held visits over HTTP: offline visits that met a closed or reassigned case.

A trusted person sees the ones she captured (with the reason and what became of them); a
coordinator sees those waiting in her wijken (her inbox) and decides: log it on the case, or
discard it. Every list and decision is audited per family.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter

from alamal_cases import held_visit_store, store
from alamal_cases.audit import (
    NOT_FOUND_OR_OUT_OF_SCOPE,
    CasesAction,
    list_refusals,
    record_shown,
    record_step,
    record_step_done,
)
from alamal_cases.coordination_api import ListAction
from alamal_cases.deps import StoreDep
from alamal_cases.domain.held_visits import AlreadyDecidedError, HeldState, HeldVisit, decide
from alamal_cases.handlers import SOURCE
from alamal_cases.held_visit_schemas import DecisionIn, HeldVisitOut
from alamal_contracts.codes import Wijk
from alamal_runtime.audit import DEFAULT_REASON, AccessReason
from alamal_runtime.auth import Principal, Role
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.store import StaleWriteError, Store

router = APIRouter(tags=["held visits"])
log = structlog.get_logger(__name__)
NOT_FOUND = "held visit not found"


def _in_scope(principal: Principal, held: HeldVisit) -> bool:
    if principal.role is Role.COORDINATOR:
        return held.wijk in principal.wijken
    return principal.role is Role.TRUSTED_PERSON and held.author_id == principal.user_id


@router.get("/held-visits", response_model=list[HeldVisitOut])
async def list_held(
    principal: CurrentPrincipal,
    store_: StoreDep,
    wijk: Wijk | None = None,
    reason: AccessReason = DEFAULT_REASON,
) -> list[HeldVisitOut]:
    """A trusted person's own held visits (newest first, any state); a coordinator's inbox:
    those waiting in her wijken (oldest first; one wijk with `?wijk=`). 403 for other roles."""
    action = ListAction.READ_HELD_VISITS.value
    async with list_refusals(store_, principal, action, reason):
        found = await _held_in_scope(store_, principal, wijk)
    await record_shown(store_, principal, action, (h.family_id for h in found), reason)
    return [HeldVisitOut.of(h) for h in found]


async def _held_in_scope(store_: Store, principal: Principal, wijk: Wijk | None) -> list[HeldVisit]:
    if principal.role is Role.TRUSTED_PERSON:
        if wijk is not None:
            raise HTTPProblem(403, "a trusted person sees her own held visits only")
        return await held_visit_store.held_by_author(store_, principal.user_id)
    if principal.role is Role.COORDINATOR:
        if wijk is not None and wijk.value not in principal.wijken:
            raise HTTPProblem(403, "wijk outside your scope")
        wijken = [wijk.value] if wijk is not None else sorted(principal.wijken)
        found = [
            h
            for w in wijken
            for h in await held_visit_store.held_in_wijk(store_, w, HeldState.WAITING)
        ]
        return sorted(found, key=lambda h: (h.held_at, h.id))
    raise HTTPProblem(403, "held visits are for casework roles")


@router.post("/held-visits/{held_id}/decision", response_model=HeldVisitOut)
async def decide_held(
    held_id: uuid.UUID,
    body: DecisionIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> HeldVisitOut:
    """A coordinator of the wijk logs the held visit on its case (emits
    `cases.visit-logged.v1`, the author as who made the contact) or discards it (its note is
    dropped). 404 outside her wijken, 403 for her trusted persons, 409 once decided."""
    family_id: str | None = None
    refusal: tuple[HTTPProblem, str] | None = None
    try:
        async with store_.transaction() as uow:
            found = await held_visit_store.get_held_versioned(uow, str(held_id))
            if found is None or not _in_scope(principal, found[0]):
                raise _Refusal(HTTPProblem(404, NOT_FOUND), NOT_FOUND_OR_OUT_OF_SCOPE)
            held, version = found
            family_id = held.family_id
            if principal.role is not Role.COORDINATOR:
                raise _Refusal(HTTPProblem(403, "a coordinator decides"), "coordinator-only")
            case = await store.get_case_in(uow, held.case_id)
            if case is None:
                raise _Refusal(HTTPProblem(404, NOT_FOUND), NOT_FOUND_OR_OUT_OF_SCOPE)
            try:
                decided, visit, event = decide(
                    held,
                    case,
                    body.decision,
                    visit_id=str(uuid.uuid4()),
                    by=principal.user_id,
                    now=datetime.now(UTC),
                )
            except AlreadyDecidedError:
                raise _Refusal(HTTPProblem(409, "already decided"), "already-decided") from None
            await held_visit_store.replace_held(uow, decided, version=version)
            if visit is not None and event is not None:
                await store.add_visit(uow, visit)
                emit(uow, event, source=SOURCE)
            await record_step_done(
                uow, principal, CasesAction.DECIDE_HELD_VISIT, held.family_id, reason=reason
            )
    except _Refusal as refused:
        refusal = (refused.answer, refused.code)
    except StaleWriteError:
        refusal = (HTTPProblem(409, "already decided"), "already-decided")
    if refusal is not None:
        answer, code = refusal
        await record_step(
            store_, principal, CasesAction.DECIDE_HELD_VISIT, family_id, reason=reason, refusal=code
        )
        raise answer
    log.info("held_visit_decided", held_id=decided.id, state=decided.state.value)
    return HeldVisitOut.of(decided)


class _Refusal(Exception):  # noqa: N818 - carries an answer out of the unit of work
    def __init__(self, answer: HTTPProblem, code: str) -> None:
        super().__init__(code)
        self.answer = answer
        self.code = code
