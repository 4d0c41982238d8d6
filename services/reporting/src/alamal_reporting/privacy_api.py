"""Reporting's privacy API: the facts it holds about a family, for the privacy officer only."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from alamal_reporting.privacy import export_family
from alamal_runtime.http import CurrentPrincipal, StoreDep
from alamal_runtime.privacy import (
    EXPORT_ACTION,
    EXPORT_REASON,
    ExportReason,
    audit_export,
    refuse_unless_privacy_officer,
)

router = APIRouter(prefix="/privacy", tags=["privacy"])


@router.get("/families/{family_id}/export")
async def export(
    family_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    reason: ExportReason = EXPORT_REASON,
) -> dict[str, Any]:
    """The facts reporting keeps about the family: per collection (families, cases, visits,
    referrals, goals) the stored codes, counts and dates (AVG art. 15). Every role but the
    privacy officer gets 403, audited."""
    fid = str(family_id)
    await refuse_unless_privacy_officer(
        store, principal, action=EXPORT_ACTION, family_id=fid, reason=reason
    )
    await audit_export(store, principal, fid, reason)
    return await export_family(store, fid)
