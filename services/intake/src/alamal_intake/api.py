"""Intake's HTTP API: register a family, read one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from alamal_intake import access
from alamal_intake.domain import register_family
from alamal_intake.schemas import FamilyOut, RegisterFamilyIn
from alamal_intake.store import add_family, get_family
from alamal_runtime.auth import Role
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, HTTPProblem, field_error
from alamal_runtime.store import Store

SOURCE = "/alamal/intake"

router = APIRouter(prefix="/families", tags=["families"])


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FamilyOut)
async def register(
    body: RegisterFamilyIn, principal: CurrentPrincipal, store: StoreDep, response: Response
) -> FamilyOut:
    """Register a family; its thin `intake.family-registered.v1` event goes out via the outbox."""
    command = body.to_command(default_trusted_person=principal.user_id)
    if not access.may_register(
        principal, wijk=command.wijk.value, trusted_person_id=command.trusted_person_id
    ):
        raise HTTPProblem(403, "not allowed to register a family for this wijk or trusted person")
    if body.trusted_person_id is None and principal.role is not Role.TRUSTED_PERSON:
        raise field_error("trusted_person_id", "required: name the family's trusted person")
    family, event = register_family(
        command,
        family_id=str(uuid.uuid4()),
        registered_by=principal.user_id,
        now=datetime.now(UTC),
    )
    async with store.transaction() as uow:
        await add_family(uow, family)
        emit(uow, event, source=SOURCE)
    response.headers["Location"] = f"/families/{family.id}"
    return FamilyOut.of(family)


@router.get("/{family_id}", response_model=FamilyOut)
async def read(family_id: uuid.UUID, principal: CurrentPrincipal, store: StoreDep) -> FamilyOut:
    """One family; 404 both when it does not exist and when it is outside the caller's scope."""
    family = await get_family(store, str(family_id))
    if family is None or not access.may_read(principal, family):
        raise HTTPProblem(404, "family not found")
    return FamilyOut.of(family)
