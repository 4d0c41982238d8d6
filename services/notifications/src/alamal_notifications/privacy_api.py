"""Notifications' privacy API: a family's referrals and deliveries, for the privacy officer."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from alamal_notifications.deps import ServicesDep
from alamal_notifications.privacy import export_family
from alamal_runtime.http import CurrentPrincipal
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
    services: ServicesDep,
    reason: ExportReason = EXPORT_REASON,
) -> dict[str, Any]:
    """The family's referrals as the partners saw them (partner name and kind), every delivery
    of them (times, endpoints, states, answers' status codes; no bodies, no secrets), the
    consent projection and notifications' access audit of the family (AVG art. 15).

    Every role but the privacy officer gets 403, audited.
    """
    fid = str(family_id)
    store = services.store
    await refuse_unless_privacy_officer(
        store, principal, action=EXPORT_ACTION, family_id=fid, reason=reason
    )
    await audit_export(store, principal, fid, reason)
    return await export_family(store, fid)
