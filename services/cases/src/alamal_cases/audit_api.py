"""Cases' audit API: who read a family's notes, plan or referrals, for coordinators and admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from alamal_cases import store
from alamal_cases.deps import StoreDep
from alamal_runtime.audit import AuditOutcome, audit_of_family
from alamal_runtime.auth import Role
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem

router = APIRouter(tags=["audit"])


class AuditRecordOut(DomainView):
    """One audited read or referral step: ids and codes only (`refusal`: why it was refused)."""

    id: str
    at: datetime
    user_id: str
    role: str
    action: str
    family_id: str | None
    outcome: AuditOutcome
    reason: str
    refusal: str | None


class AuditOut(BaseModel):
    """A family's audit records in cases, newest first."""

    family_id: str
    records: list[AuditRecordOut]


@router.get("/audit", response_model=AuditOut)
async def family_audit(
    family_id: Annotated[uuid.UUID, Query()],
    principal: CurrentPrincipal,
    store_: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditOut:
    """Admins: any family; a coordinator: families with a case in her wijken (else 404, as for
    a family cases does not know); every other role 403."""
    if principal.role not in (Role.ADMIN, Role.COORDINATOR):
        raise HTTPProblem(403, "not allowed to read the access audit")
    if principal.role is Role.COORDINATOR:
        cases = await store.cases_of_family(store_, str(family_id))
        if not any(c.wijk.value in principal.wijken for c in cases):
            raise HTTPProblem(404, "family not found")
    records = await audit_of_family(store_, str(family_id), limit=limit)
    return AuditOut(family_id=str(family_id), records=[AuditRecordOut.of(r) for r in records])
