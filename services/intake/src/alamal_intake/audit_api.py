"""Intake's audit API: who accessed a family's data, for coordinators and admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from alamal_intake import access
from alamal_intake.api import FAMILY_NOT_FOUND
from alamal_intake.audit import audit_of_family
from alamal_intake.deps import StoreDep
from alamal_intake.schemas import AuditOut, AuditRecordOut
from alamal_intake.store import get_family
from alamal_runtime.auth import Role
from alamal_runtime.http import CurrentPrincipal, HTTPProblem

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditOut)
async def family_audit(
    family_id: Annotated[uuid.UUID, Query()],
    principal: CurrentPrincipal,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditOut:
    """A family's audit records, newest first: ids and codes only, never personal data.

    Roles that never see an audit get 403; a coordinator asking about a family outside her
    wijken (or a missing one) gets the same 404 as GET /families/{id}. Admins may read the
    audit of any id, including attempts on ids that never existed.
    """
    if principal.role not in (Role.ADMIN, Role.COORDINATOR):
        raise HTTPProblem(403, "not allowed to read the access audit")
    family = await get_family(store, str(family_id))
    if not access.may_read_audit(principal, family):
        raise HTTPProblem(404, FAMILY_NOT_FOUND)
    records = await audit_of_family(store, str(family_id), limit=limit)
    return AuditOut(family_id=str(family_id), records=[AuditRecordOut.of(r) for r in records])
