"""Cases' HTTP API (first cut): list a family's cases, read one case."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from alamal_cases import access
from alamal_cases.deps import StoreDep
from alamal_cases.domain import CaseStatus
from alamal_cases.store import cases_of_family, get_case
from alamal_contracts.codes import Wijk
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem

router = APIRouter(prefix="/cases", tags=["cases"])


class CaseOut(DomainView):
    """A case as shown to staff in scope."""

    id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    status: CaseStatus
    opened_at: datetime


@router.get("", response_model=list[CaseOut])
async def list_cases(
    family_id: Annotated[uuid.UUID, Query()], principal: CurrentPrincipal, store: StoreDep
) -> list[CaseOut]:
    """The family's cases the caller may see (empty when none, never revealing others)."""
    cases = await cases_of_family(store, str(family_id))
    return [CaseOut.of(c) for c in cases if access.may_read(principal, c)]


@router.get("/{case_id}", response_model=CaseOut)
async def read_case(case_id: uuid.UUID, principal: CurrentPrincipal, store: StoreDep) -> CaseOut:
    """One case; 404 when missing or outside the caller's scope."""
    case = await get_case(store, str(case_id))
    if case is None or not access.may_read(principal, case):
        raise HTTPProblem(404, "case not found")
    return CaseOut.of(case)
