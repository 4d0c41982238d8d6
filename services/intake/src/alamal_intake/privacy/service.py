"""Intake's erasure operations, each in the caller's unit of work (HTTP, events, retention).

Approving an erasure erases intake's own data in the same unit of work that announces it: the
family document, its access audit and its published events are deleted, a marker makes every
consumer skip later events of the family, and the request stays as the tombstone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_contracts.codes import PartnerKind
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import ErasureEvent, FamilyErasureRequested, ReferralEscalated
from alamal_contracts.topics import producer_of
from alamal_intake.audit import AuditAction, AuditOutcome, entry, write_audit
from alamal_intake.closures import forget_closure
from alamal_intake.privacy import domain
from alamal_intake.privacy import store as repo
from alamal_intake.privacy.domain import (
    ErasureBasis,
    ErasureReason,
    ErasureRefusedError,
    ErasureRequest,
    HoldReason,
    LegalHold,
)
from alamal_intake.store import FAMILIES, load_family
from alamal_runtime.auth import Principal
from alamal_runtime.erasure import erased_by, forget_family, mark_erased
from alamal_runtime.events import emit
from alamal_runtime.store import Record, UnitOfWork

SOURCE = "/alamal/intake"
BY_FAMILY = "erasure_by_family"
"""Per family, its open request (so two requests cannot race each other into the store)."""

log = structlog.get_logger(__name__)


class FamilyUnknownError(Exception):
    """No family with that id (never registered, or erased and gone)."""


class AlreadyErasedError(Exception):
    """The family was erased; `request_id` names the erasure."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id


class RequestUnknownError(Exception):
    """No erasure request with that id."""


@dataclass(frozen=True, slots=True)
class RequestErasure:
    """Command: a privacy officer asks to erase a family."""

    family_id: str
    reason: ErasureReason
    basis: ErasureBasis


async def _refuse_if_erased(uow: UnitOfWork, family_id: str) -> None:
    request_id = await erased_by(uow, family_id)
    if request_id is not None:
        raise AlreadyErasedError(request_id)


async def request_erasure(
    uow: UnitOfWork, command: RequestErasure, principal: Principal, *, reason: str
) -> ErasureRequest:
    """Record a request; FamilyUnknownError, AlreadyErasedError or ErasureRefusedError."""
    await _refuse_if_erased(uow, command.family_id)
    loaded = await load_family(uow, command.family_id)
    if loaded is None:
        raise FamilyUnknownError(command.family_id)
    now = datetime.now(UTC)
    guard = await uow.get(BY_FAMILY, command.family_id)
    open_requests = await _open_requests(uow, guard)
    request = domain.request_erasure(
        request_id=str(uuid.uuid4()),
        family_id=command.family_id,
        wijk=loaded.family.wijk.value,
        reason=command.reason,
        basis=command.basis,
        requested_by=principal.user_id,
        now=now,
        open_requests=open_requests,
        hold=await repo.hold_of(uow, command.family_id),
    )
    await repo.add_request(uow, request)
    data = {"open_request_id": request.id}
    if guard is None:
        await uow.insert(BY_FAMILY, command.family_id, data)
    else:
        await uow.replace(BY_FAMILY, command.family_id, data, expected_version=guard.version)
    await _audit(uow, principal, AuditAction.REQUEST_ERASURE, command.family_id, reason, now)
    return request


async def _open_requests(uow: UnitOfWork, guard: Record | None) -> list[ErasureRequest]:
    """The family's open request, if its guard names one."""
    if guard is None or guard.data["open_request_id"] is None:
        return []
    found = await repo.load_request(uow, guard.data["open_request_id"])
    return [] if found is None else [found[0]]


async def load_open(uow: UnitOfWork, request_id: str) -> tuple[ErasureRequest, int]:
    """A request to decide on; RequestUnknownError if there is none."""
    found = await repo.load_request(uow, request_id)
    if found is None:
        raise RequestUnknownError(request_id)
    return found


async def approve_erasure(
    uow: UnitOfWork, request: ErasureRequest, version: int, principal: Principal, *, reason: str
) -> ErasureRequest:
    """Approve (four eyes), erase intake's data and announce the erasure to every service.

    Who may approve at all (role and wijk) the caller has checked already.
    """
    now = datetime.now(UTC)
    hold = await repo.hold_of(uow, request.family_id)
    approved = domain.approve(request, by=principal.user_id, now=now, hold=hold)
    await repo.replace_request(uow, approved, version=version)
    await _erase_intake(uow, approved, now)
    # Written after the family's audit was deleted: who approved the erasure stays on record.
    await _audit(uow, principal, AuditAction.APPROVE_ERASURE, request.family_id, reason, now)
    log.info("erasure_approved", request_id=request.id)
    return approved


async def _erase_intake(uow: UnitOfWork, request: ErasureRequest, now: datetime) -> None:
    """Intake's part of an approved erasure, and its announcement to every other service: the
    family document (with its blind-index terms), its data key, access audit and published
    events go; the marker makes every consumer skip the family's later events."""
    family_id = request.family_id
    await uow.delete(FAMILIES, family_id)
    await forget_family(uow, family_id)
    await uow.delete(BY_FAMILY, family_id)
    await forget_closure(uow, family_id=family_id)
    await mark_erased(uow, family_id, request.id, now=now)
    emit(uow, FamilyErasureRequested(family_id=family_id, request_id=request.id), source=SOURCE)


async def reject_erasure(
    uow: UnitOfWork, request: ErasureRequest, version: int, principal: Principal, *, reason: str
) -> ErasureRequest:
    """The approver says no, or the requester withdraws: the family may be asked for again."""
    now = datetime.now(UTC)
    rejected = domain.reject(request, by=principal.user_id, now=now)
    await repo.replace_request(uow, rejected, version=version)
    guard = await uow.get(BY_FAMILY, request.family_id)
    if guard is not None and guard.data["open_request_id"] == request.id:
        await uow.replace(
            BY_FAMILY, request.family_id, {"open_request_id": None}, expected_version=guard.version
        )
    await _audit(uow, principal, AuditAction.REJECT_ERASURE, request.family_id, reason, now)
    return rejected


async def write_search_audit(
    uow: UnitOfWork, principal: Principal, family_id: str, reason: str
) -> None:
    """Record that a privacy officer's search showed the family."""
    await _audit(uow, principal, AuditAction.PRIVACY_SEARCH, family_id, reason, datetime.now(UTC))


async def _audit(
    uow: UnitOfWork,
    principal: Principal,
    action: AuditAction,
    family_id: str,
    reason: str,
    now: datetime,
) -> None:
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


async def on_family_erased(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Note a service's confirmation on the request's tombstone (once, whatever redelivery)."""
    confirmed = event.data
    if not isinstance(confirmed, ErasureEvent) or isinstance(confirmed, FamilyErasureRequested):
        raise TypeError(f"expected a confirmation, got {type(confirmed).__name__}")
    service = producer_of(type(confirmed).TOPIC)
    found = await repo.load_request(uow, confirmed.request_id)
    if found is None or found[0].family_id != confirmed.family_id:
        log.warning("erasure_confirmation_unknown", request_id=confirmed.request_id)
        return
    request, version = found
    changed = domain.confirm(request, service, at=event.time)
    if changed != request:
        await repo.replace_request(uow, changed, version=version)
        log.info("erasure_confirmed", request_id=request.id, service=service)
        if changed.completed_at is not None:
            log.info("erasure_completed", request_id=request.id)


async def on_referral_escalated(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """A report to Veilig Thuis puts the family on legal hold (AVG art. 17(3)(b))."""
    escalated = event.data
    if not isinstance(escalated, ReferralEscalated):
        raise TypeError(f"expected ReferralEscalated, got {type(escalated).__name__}")
    if escalated.partner_kind is not PartnerKind.VEILIG_THUIS:
        return
    hold = LegalHold(
        family_id=escalated.family_id,
        reason=HoldReason.MELDCODE_REPORT,
        since=escalated.escalated_at,
        referral_ids=(escalated.referral_id,),
    )
    await repo.add_to_hold(uow, hold)
    log.info("legal_hold_recorded", family_id=escalated.family_id, reason=hold.reason.value)


__all__ = [
    "AlreadyErasedError",
    "ErasureRefusedError",
    "FamilyUnknownError",
    "RequestErasure",
    "RequestUnknownError",
    "approve_erasure",
    "load_open",
    "on_family_erased",
    "on_referral_escalated",
    "reject_erasure",
    "request_erasure",
    "write_search_audit",
]
