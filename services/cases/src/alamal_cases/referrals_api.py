"""Cases' HTTP API for referrals to partners: propose, approve, override, send, answer.

Scope as elsewhere: outside it a referral is 404 like a missing one. A trusted person who can
see the referral but asks for a coordinator's step (approve, override, answer) gets 403: she
already sees the referral, so the refusal reveals nothing and says what is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from alamal_cases import access, referral_store, store
from alamal_cases.audit import (
    NOT_FOUND_OR_OUT_OF_SCOPE,
    CasesAction,
    readable_case,
    record_read,
    record_step,
    record_step_done,
)
from alamal_cases.deps import StoreDep
from alamal_cases.domain import Case, CaseNotOpenError
from alamal_cases.domain.referrals import (
    Referral,
    ReferralRefusedError,
    ReferralRejectedError,
    approve,
    propose_referral,
    record_answer,
    record_override,
    send,
)
from alamal_cases.handlers import SOURCE
from alamal_cases.referral_schemas import OverrideIn, ReferralIn, ReferralOut, StatusIn
from alamal_contracts.codes import SHARE_PURPOSE
from alamal_contracts.events import Event
from alamal_runtime.audit import DEFAULT_REASON, AccessReason
from alamal_runtime.auth import Principal
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, HTTPProblem, field_error
from alamal_runtime.paging import MAX_CURSOR_CHARS, page_or_422
from alamal_runtime.store import StaleWriteError, Store, UnitOfWork

router = APIRouter(tags=["referrals"])
log = structlog.get_logger(__name__)

CASE_NOT_FOUND = "case not found"
NOT_FOUND = "referral not found"
COORDINATOR_ONLY = "only a coordinator of the wijk may do this"


type Allowed = Callable[[Principal, Case], bool]
type Step = Callable[[Referral, UnitOfWork], Awaitable[tuple[Referral, Event | None]]]


@router.post("/cases/{case_id}/referrals", status_code=201, response_model=ReferralOut)
async def create_referral(
    case_id: uuid.UUID,
    body: ReferralIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralOut:
    """Propose a referral to a registered, active partner on a case in scope (its registered
    kind; a `partner_kind` sent along must match it). 404 outside scope, 409 when the case is
    closed, 422 on `partner_id` for an unknown or inactive partner and on `partner_kind` for a
    mismatch. Every attempt is audited, refusals with their code."""
    family_id: str | None = None
    try:
        async with store_.transaction() as uow:
            case = await store.get_case_in(uow, str(case_id))
            family_id = None if case is None else case.family_id
            if case is None or not access.may_propose_referral(principal, case):
                raise _Refused(HTTPProblem(404, CASE_NOT_FOUND), NOT_FOUND_OR_OUT_OF_SCOPE)
            command = body.command()
            partner = await referral_store.partner_in(uow, command.partner_id)
            try:
                referral = propose_referral(
                    case,
                    command,
                    partner=partner,
                    referral_id=str(uuid.uuid4()),
                    by=principal.user_id,
                    now=datetime.now(UTC),
                )
            except CaseNotOpenError:
                raise _Refused(HTTPProblem(409, "the case is closed"), "case-closed") from None
            except ReferralRejectedError as exc:
                raise _Refused(field_error(exc.field, exc.message), exc.code) from None
            await referral_store.add_referral(uow, referral)
            await record_step_done(
                uow, principal, CasesAction.PROPOSE_REFERRAL, referral.family_id, reason=reason
            )
    except _Refused as refused:
        await record_step(
            store_,
            principal,
            CasesAction.PROPOSE_REFERRAL,
            family_id,
            reason=reason,
            refusal=refused.code,
        )
        log.info("referral_refused", case_id=str(case_id), refusal=refused.code)
        raise refused.answer from None
    log.info("referral_proposed", case_id=referral.case_id, referral_id=referral.id)
    response.headers["Location"] = f"/referrals/{referral.id}"
    return ReferralOut.of(referral)


class _Refused(Exception):  # noqa: N818 - carries an answer out of the unit of work
    """A refused attempt: the answer to give and the refusal code to audit."""

    def __init__(self, answer: Exception, code: str) -> None:
        super().__init__(code)
        self.answer = answer
        self.code = code


class ReferralPage(BaseModel):
    """One page of a case's referrals; pass `next_cursor` as `cursor` for the next page."""

    results: list[ReferralOut]
    next_cursor: str | None


@router.get("/cases/{case_id}/referrals", response_model=ReferralPage)
async def list_referrals(
    case_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralPage:
    """A case's referrals, oldest first, paged (audited); 404 when missing or out of scope."""
    case = await readable_case(store_, case_id, principal, CasesAction.READ_REFERRALS, reason)
    referrals = await referral_store.referrals_of_case(store_, case.id)
    page = page_or_422(
        referrals,
        key=lambda r: (r.proposed_at.isoformat(), r.id),
        key_parts=2,
        cursor=cursor,
        limit=limit,
    )
    return ReferralPage(
        results=[ReferralOut.of(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
async def read_referral(
    referral_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralOut:
    """One referral of a case in scope (audited); 404 otherwise."""
    referral = await referral_store.get_referral(store_, str(referral_id))
    case = None if referral is None else await store.get_case(store_, referral.case_id)
    allowed = referral is not None and case is not None and access.may_read(principal, case)
    await record_read(
        store_, principal, CasesAction.READ_REFERRAL, case, allowed=allowed, reason=reason
    )
    if referral is None or not allowed:
        raise HTTPProblem(404, NOT_FOUND)
    return ReferralOut.of(referral)


async def _step(
    store_: Store,
    referral_id: uuid.UUID,
    principal: Principal,
    allowed: Allowed,
    step: Step,
    *,
    action: CasesAction,
    reason: str,
) -> Referral:
    """Load, check scope and role, apply one transition, store it with its event and its audit
    record atomically; a refusal is audited on its own with its code."""
    family_id: str | None = None
    try:
        async with store_.transaction() as uow:
            found = await referral_store.get_referral_in(uow, str(referral_id))
            case = None if found is None else await store.get_case_in(uow, found[0].case_id)
            family_id = None if case is None else case.family_id
            if found is None or case is None or not access.may_read(principal, case):
                raise _Refused(HTTPProblem(404, NOT_FOUND), NOT_FOUND_OR_OUT_OF_SCOPE)
            if not allowed(principal, case):
                raise _Refused(HTTPProblem(403, COORDINATOR_ONLY), "role")
            referral, version = found
            try:
                changed, event = await step(referral, uow)
            except ReferralRejectedError as exc:
                raise _Refused(field_error(exc.field, exc.message), exc.code) from None
            except ReferralRefusedError as exc:
                raise _Refused(HTTPProblem(409, exc.message), exc.code) from None
            await referral_store.replace_referral(uow, changed, version=version)
            if event is not None:
                emit(uow, event, source=SOURCE)
            await record_step_done(uow, principal, action, changed.family_id, reason=reason)
    except _Refused as refused:
        await record_step(store_, principal, action, family_id, reason=reason, refusal=refused.code)
        log.info("referral_step_refused", referral_id=str(referral_id), refusal=refused.code)
        raise refused.answer from None
    except StaleWriteError:
        await record_step(
            store_, principal, action, family_id, reason=reason, refusal="changed-meanwhile"
        )
        raise HTTPProblem(409, "the referral changed meanwhile; reload and retry") from None
    log.info("referral_changed", referral_id=changed.id, state=changed.state.value)
    return changed


@router.post("/referrals/{referral_id}/approve", response_model=ReferralOut)
async def approve_referral(
    referral_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralOut:
    """A coordinator in scope approves a proposal."""

    async def step(referral: Referral, _: UnitOfWork) -> tuple[Referral, Event | None]:
        return approve(referral, by=principal.user_id, now=datetime.now(UTC)), None

    changed = await _step(
        store_,
        referral_id,
        principal,
        access.may_decide_referral,
        step,
        action=CasesAction.APPROVE_REFERRAL,
        reason=reason,
    )
    return ReferralOut.of(changed)


@router.post("/referrals/{referral_id}/meldcode-override", response_model=ReferralOut)
async def override_referral(
    referral_id: uuid.UUID,
    body: OverrideIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralOut:
    """A coordinator in scope records a Meldcode safety override before sending; 409 unless
    the partner is registered as Veilig Thuis."""

    async def step(referral: Referral, uow: UnitOfWork) -> tuple[Referral, Event | None]:
        partner = await referral_store.partner_in(uow, referral.partner_id)
        changed = record_override(
            referral,
            partner=partner,
            reason_code=body.reason_code,
            by=principal.user_id,
            now=datetime.now(UTC),
        )
        return changed, None

    changed = await _step(
        store_,
        referral_id,
        principal,
        access.may_decide_referral,
        step,
        action=CasesAction.RECORD_MELDCODE_OVERRIDE,
        reason=reason,
    )
    return ReferralOut.of(changed)


@router.post("/referrals/{referral_id}/send", response_model=ReferralOut)
async def send_referral(
    referral_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralOut:
    """Send to the partner (emits `cases.referral-escalated.v1`). 409 without consent for the
    partner's registered kind (or a Meldcode override for Veilig Thuis), and when the partner
    was deactivated or its registered kind changed since the referral was proposed."""

    async def step(referral: Referral, uow: UnitOfWork) -> tuple[Referral, Event | None]:
        partner = await referral_store.partner_in(uow, referral.partner_id)
        purpose = None if partner is None else SHARE_PURPOSE.get(partner.kind)
        consent = (
            None
            if purpose is None
            else await referral_store.consent_in(uow, referral.family_id, purpose)
        )
        return send(
            referral, partner=partner, consent=consent, by=principal.user_id, now=datetime.now(UTC)
        )

    changed = await _step(
        store_,
        referral_id,
        principal,
        access.may_send_referral,
        step,
        action=CasesAction.SEND_REFERRAL,
        reason=reason,
    )
    return ReferralOut.of(changed)


@router.post("/referrals/{referral_id}/status", response_model=ReferralOut)
async def answer_referral(
    referral_id: uuid.UUID,
    body: StatusIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> ReferralOut:
    """Record the partner's answer (emits `cases.referral-updated.v1`); coordinators for now."""

    async def step(referral: Referral, _: UnitOfWork) -> tuple[Referral, Event | None]:
        return record_answer(
            referral, body.status, outcome_code=body.outcome_code, now=datetime.now(UTC)
        )

    changed = await _step(
        store_,
        referral_id,
        principal,
        access.may_decide_referral,
        step,
        action=CasesAction.RECORD_REFERRAL_ANSWER,
        reason=reason,
    )
    return ReferralOut.of(changed)


__all__ = ["router"]
