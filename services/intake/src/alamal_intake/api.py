"""Intake's HTTP API: register a family, read one. Every attempt is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response, status

from alamal_intake import access
from alamal_intake.audit import DEFAULT_REASON, AuditAction, AuditOutcome, audit, entry, write_audit
from alamal_intake.deps import AccessReason, StoreDep
from alamal_intake.domain import register_family
from alamal_intake.schemas import FamilyOut, RegisterFamilyIn
from alamal_intake.store import add_family, get_versioned
from alamal_runtime.auth import Role
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, HTTPProblem, field_error
from alamal_runtime.store import UnitOfWork

SOURCE = "/alamal/intake"
FAMILY_NOT_FOUND = "family not found"

router = APIRouter(prefix="/families", tags=["families"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FamilyOut)
async def register(
    body: RegisterFamilyIn,
    principal: CurrentPrincipal,
    store: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> FamilyOut:
    """Register a family; its thin `intake.family-registered.v1` event goes out via the outbox."""
    command = body.to_command(default_trusted_person=principal.user_id)
    if not access.may_register(
        principal, wijk=command.wijk.value, trusted_person_id=command.trusted_person_id
    ):
        refused = entry(
            principal,
            action=AuditAction.REGISTER_FAMILY,
            family_id=None,
            outcome=AuditOutcome.DENIED_OR_MISSING,
            reason=reason,
            now=datetime.now(UTC),
        )
        await audit(store, refused)
        raise HTTPProblem(403, "not allowed to register a family for this wijk or trusted person")
    if body.trusted_person_id is None and principal.role is not Role.TRUSTED_PERSON:
        raise field_error("trusted_person_id", "required: name the family's trusted person")
    now = datetime.now(UTC)
    family, event = register_family(
        command, family_id=str(uuid.uuid4()), registered_by=principal.user_id, now=now
    )
    registered = entry(
        principal,
        action=AuditAction.REGISTER_FAMILY,
        family_id=family.id,
        outcome=AuditOutcome.ALLOWED,
        reason=reason,
        now=now,
    )

    async def work(uow: UnitOfWork) -> None:
        await add_family(uow, family)
        emit(uow, event, source=SOURCE)
        await write_audit(uow, registered)

    # Re-run after a transient conflict: concurrent registrations all get their 201.
    await store.with_transaction(work)
    response.headers["Location"] = f"/families/{family.id}"
    return FamilyOut.of(family)


@router.get("/{family_id}", response_model=FamilyOut)
async def read(
    family_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> FamilyOut:
    """One family with its version as `ETag`; 404 when missing and when outside the scope."""
    loaded = await get_versioned(store, str(family_id))
    allowed = loaded is not None and access.may_read(principal, loaded.family)
    outcome = AuditOutcome.ALLOWED if allowed else AuditOutcome.DENIED_OR_MISSING
    await audit(
        store,
        entry(
            principal,
            action=AuditAction.READ_FAMILY,
            family_id=str(family_id),
            outcome=outcome,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )
    if loaded is None or not allowed:
        raise HTTPProblem(404, FAMILY_NOT_FOUND)
    response.headers["ETag"] = etag(loaded.version)
    return FamilyOut.of(loaded.family)


def etag(version: int) -> str:
    """The strong entity tag of a stored family version."""
    return f'"{version}"'
