"""Intake's privacy API: a family's export, erasure requests with four eyes, their status.

Privacy officers do everything here; a coordinator may also approve or reject a request for a
family in her wijken (the second pair of eyes). Every other role gets 403, and every attempt,
refused or not, is written to the access audit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from alamal_contracts.codes import Wijk
from alamal_intake.audit import AuditAction, AuditOutcome, audit, entry, write_audit
from alamal_intake.deps import StoreDep
from alamal_intake.domain import Family
from alamal_intake.privacy import service
from alamal_intake.privacy import store as repo
from alamal_intake.privacy.domain import ErasureRequest, ErasureState
from alamal_intake.privacy.export import export_family
from alamal_intake.privacy.schemas import (
    ErasureOut,
    ErasuresOut,
    FamilyMatchesOut,
    FamilyMatchOut,
    RequestErasureIn,
)
from alamal_intake.search import paginate
from alamal_intake.store import get_family, search_candidates
from alamal_runtime.auth import Principal, Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.privacy import (
    EXPORT_REASON,
    ExportReason,
    audit_export,
    audit_refusal,
    refuse_unless_privacy_officer,
)
from alamal_runtime.store import StaleWriteError, Store, UnitOfWork

router = APIRouter(prefix="/privacy", tags=["privacy"])

FAMILY_NOT_FOUND = "family not found"
REQUEST_NOT_FOUND = "erasure request not found"
MAX_MATCHES = 50


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """What the privacy routes are configured with (built in the composition root)."""

    confirm_within: timedelta


def _settings(request: Request) -> PrivacySettings:
    settings: PrivacySettings = request.app.state.privacy
    return settings


SettingsDep = Annotated[PrivacySettings, Depends(_settings)]


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/families", response_model=FamilyMatchesOut)
async def find_families(
    principal: CurrentPrincipal,
    store: StoreDep,
    name: Annotated[str, Query(min_length=2, max_length=100)],
    reason: ExportReason = EXPORT_REASON,
) -> FamilyMatchesOut:
    """Families whose members' names contain `name`, to find the one that asked (audited)."""
    await refuse_unless_privacy_officer(
        store, principal, action=AuditAction.PRIVACY_SEARCH, family_id=None, reason=reason
    )
    candidates = await search_candidates(
        store,
        [{"wijk": wijk.value} for wijk in Wijk],
        keep=lambda _: True,
        name=name,
        after=None,
        limit=MAX_MATCHES,
    )
    found = paginate(candidates, name=name, after=None, limit=MAX_MATCHES).families
    if found:
        async with store.transaction() as uow:
            for family in found:
                await service.write_search_audit(uow, principal, family.id, reason)
    return FamilyMatchesOut(results=[FamilyMatchOut.of(f) for f in found])


async def _family_for_officer(
    store: Store, principal: Principal, family_id: str, *, action: AuditAction, reason: str
) -> Family:
    """The family a privacy officer asks `action` of: 403 for any other role, 410 once it is
    erased, 404 when unknown; every refusal is in the access audit."""
    await refuse_unless_privacy_officer(
        store, principal, action=action, family_id=family_id, reason=reason
    )
    if (await store.get(ERASED_FAMILIES, family_id)) is not None:
        refused = HTTPProblem(410, "the family was erased")
    else:
        family = await get_family(store, family_id)
        if family is not None:
            return family
        refused = HTTPProblem(404, FAMILY_NOT_FOUND)
    await audit_refusal(store, principal, action=action, family_id=family_id, reason=reason)
    raise refused


@router.get("/families/{family_id}", response_model=FamilyMatchOut)
async def show_family(
    family_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    reason: ExportReason = EXPORT_REASON,
) -> FamilyMatchOut:
    """The family as a search shows it (members, wijk, registration), for the privacy officer's
    page of one family (audited like a search that showed it).

    404 for an unknown family; 410 once it is erased.
    """
    fid = str(family_id)
    family = await _family_for_officer(
        store, principal, fid, action=AuditAction.PRIVACY_SEARCH, reason=reason
    )
    async with store.transaction() as uow:
        await service.write_search_audit(uow, principal, fid, reason)
    return FamilyMatchOut.of(family)


@router.get("/families/{family_id}/export")
async def export(
    family_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    reason: ExportReason = EXPORT_REASON,
) -> dict[str, Any]:
    """Everything intake holds about the family (AVG art. 15): members, contact data, consent
    and assignment history, erasure requests, legal hold and the family's access audit.

    404 for an unknown family; 410 once it is erased (the tombstone says when).
    """
    fid = str(family_id)
    family = await _family_for_officer(
        store, principal, fid, action=AuditAction.EXPORT_FAMILY, reason=reason
    )
    # Audited first, so the export lists its own access too.
    await audit_export(store, principal, fid, reason)
    return await export_family(store, family)


@router.post("/erasures", status_code=status.HTTP_201_CREATED, response_model=ErasureOut)
async def request_erasure(
    body: RequestErasureIn,
    principal: CurrentPrincipal,
    store: StoreDep,
    response: Response,
    reason: ExportReason = EXPORT_REASON,
) -> ErasureOut:
    """Ask to erase a family; someone else must approve it.

    404 for an unknown family; 409 when it is already erased (`erased`), already has an open
    request (`pending`) or is under a legal hold (`legal-hold:<reason>`, AVG art. 17(3)).
    """
    fid = str(body.family_id)
    await refuse_unless_privacy_officer(
        store, principal, action=AuditAction.REQUEST_ERASURE, family_id=fid, reason=reason
    )
    command = service.RequestErasure(family_id=fid, reason=body.reason, basis=body.basis)
    try:
        async with store.transaction() as uow:
            request = await service.request_erasure(uow, command, principal, reason=reason)
    except service.FamilyUnknownError:
        await audit_refusal(
            store, principal, action=AuditAction.REQUEST_ERASURE, family_id=fid, reason=reason
        )
        raise HTTPProblem(404, FAMILY_NOT_FOUND) from None
    except service.AlreadyErasedError:
        await audit_refusal(
            store, principal, action=AuditAction.REQUEST_ERASURE, family_id=fid, reason=reason
        )
        raise HTTPProblem(409, "erased: the family was erased already") from None
    except service.ErasureRefusedError as refused:
        await audit_refusal(
            store, principal, action=AuditAction.REQUEST_ERASURE, family_id=fid, reason=reason
        )
        raise HTTPProblem(409, f"{refused.code}: {refused.message}") from None
    except StaleWriteError:
        raise HTTPProblem(409, "pending: another request for the family was made") from None
    response.headers["Location"] = f"/privacy/erasures/{request.id}"
    return ErasureOut.of(request)


def _may_decide(principal: Principal, request: ErasureRequest) -> bool:
    """A privacy officer, or a coordinator of the family's wijk, decides on a request."""
    if principal.role is Role.PRIVACY_OFFICER:
        return True
    return principal.role is Role.COORDINATOR and request.wijk in principal.wijken


async def _decide(
    store: Store,
    principal: Principal,
    request_id: uuid.UUID,
    reason: str,
    *,
    approve: bool,
) -> ErasureRequest:
    action = AuditAction.APPROVE_ERASURE if approve else AuditAction.REJECT_ERASURE
    if principal.role not in (Role.PRIVACY_OFFICER, Role.COORDINATOR):
        await audit_refusal(store, principal, action=action, family_id=None, reason=reason)
        raise HTTPProblem(403, "only a privacy officer or a coordinator decides on erasures")
    family_id: str | None = None
    try:
        async with store.transaction() as uow:
            request, version = await service.load_open(uow, str(request_id))
            family_id = request.family_id
            if not _may_decide(principal, request):
                raise service.RequestUnknownError(str(request_id))
            decide = service.approve_erasure if approve else service.reject_erasure
            return await decide(uow, request, version, principal, reason=reason)
    except service.RequestUnknownError:
        await audit_refusal(store, principal, action=action, family_id=family_id, reason=reason)
        raise HTTPProblem(404, REQUEST_NOT_FOUND) from None
    except service.ErasureRefusedError as refused:
        await audit_refusal(store, principal, action=action, family_id=family_id, reason=reason)
        status_code = 403 if refused.code == "four-eyes" else 409
        raise HTTPProblem(status_code, f"{refused.code}: {refused.message}") from None
    except StaleWriteError:
        raise HTTPProblem(409, "changed: the request changed meanwhile; read it again") from None


@router.post("/erasures/{request_id}/approve", response_model=ErasureOut)
async def approve(
    request_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    reason: ExportReason = EXPORT_REASON,
) -> ErasureOut:
    """The second pair of eyes approves: intake erases its data and tells every service.

    Not the requester (403 `four-eyes`); a coordinator only in her wijken (else 404); 409 when
    the request is no longer open or a legal hold arose meanwhile.
    """
    decided = await _decide(store, principal, request_id, reason, approve=True)
    return ErasureOut.of(decided, overdue=decided.overdue(_now(), settings.confirm_within))


@router.post("/erasures/{request_id}/reject", response_model=ErasureOut)
async def reject(
    request_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    reason: ExportReason = EXPORT_REASON,
) -> ErasureOut:
    """Reject the request (or, as its requester, withdraw it); 409 when no longer open."""
    return ErasureOut.of(await _decide(store, principal, request_id, reason, approve=False))


@router.get("/erasures", response_model=ErasuresOut)
async def list_erasures(
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    state: ErasureState | None = None,
    family_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    reason: ExportReason = EXPORT_REASON,
) -> ErasuresOut:
    """Requests newest first; the erased ones are the deletion log. A coordinator sees the
    requests waiting for approval in her wijken only. Audited once per family shown."""
    if principal.role not in (Role.PRIVACY_OFFICER, Role.COORDINATOR):
        await audit_refusal(
            store, principal, action=AuditAction.READ_ERASURES, family_id=None, reason=reason
        )
        raise HTTPProblem(403, "only a privacy officer or a coordinator sees erasure requests")
    if principal.role is Role.COORDINATOR:
        state = ErasureState.REQUESTED  # a coordinator sees only what waits for a decision
    if family_id is not None:
        found = list(reversed(await repo.requests_of_family(store, str(family_id))))
        found = [r for r in found if state is None or r.state is state]
    else:
        found = await repo.requests_in_state(store, state, limit=limit)
    if principal.role is Role.COORDINATOR:
        found = [
            r for r in found if r.state is ErasureState.REQUESTED and _may_decide(principal, r)
        ]
    found = found[:limit]
    now = _now()
    # One record per family the list shows (the family asked about when it shows none).
    shown: list[str | None] = list(dict.fromkeys(r.family_id for r in found))
    if not shown:
        shown = [None if family_id is None else str(family_id)]

    async def work(uow: UnitOfWork) -> None:
        for fid in shown:
            record = entry(
                principal,
                action=AuditAction.READ_ERASURES,
                family_id=fid,
                outcome=AuditOutcome.ALLOWED,
                reason=reason,
                now=now,
            )
            await write_audit(uow, record)

    await store.with_transaction(work)
    return ErasuresOut(
        results=[ErasureOut.of(r, overdue=r.overdue(now, settings.confirm_within)) for r in found]
    )


@router.get("/erasures/{request_id}", response_model=ErasureOut)
async def erasure_status(
    request_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    reason: ExportReason = EXPORT_REASON,
) -> ErasureOut:
    """One request: per service confirmed (when) or waiting, and which are past the alert
    time. A coordinator sees an open request of her wijken only (else 404)."""
    if principal.role not in (Role.PRIVACY_OFFICER, Role.COORDINATOR):
        await audit_refusal(
            store, principal, action=AuditAction.READ_ERASURES, family_id=None, reason=reason
        )
        raise HTTPProblem(403, "only a privacy officer or a coordinator sees erasure requests")
    request = await repo.get_request(store, str(request_id))
    visible = request is not None and (
        principal.role is Role.PRIVACY_OFFICER
        or (request.state is ErasureState.REQUESTED and _may_decide(principal, request))
    )
    outcome = AuditOutcome.ALLOWED if visible else AuditOutcome.DENIED_OR_MISSING
    await audit(
        store,
        entry(
            principal,
            action=AuditAction.READ_ERASURES,
            family_id=None if request is None else request.family_id,
            outcome=outcome,
            reason=reason,
            now=_now(),
        ),
    )
    if request is None or not visible:
        raise HTTPProblem(404, REQUEST_NOT_FOUND)
    return ErasureOut.of(request, overdue=request.overdue(_now(), settings.confirm_within))
