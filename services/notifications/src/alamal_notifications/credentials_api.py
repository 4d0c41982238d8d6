"""Admin API: the partner-API credentials a partner has (ids and dates; never a secret)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from alamal_notifications import credentials
from alamal_notifications import store as repo
from alamal_notifications.deps import AdminDep, ServicesDep
from alamal_runtime.http import HTTPProblem

router = APIRouter(prefix="/partners", tags=["partners"])


class CredentialInfoOut(BaseModel):
    """A credential as listed: its public client id, when it was made, whether it is revoked."""

    client_id: str
    created_at: datetime
    revoked: bool


@router.get("/{partner_id}/credentials", response_model=list[CredentialInfoOut])
async def list_credentials(
    partner_id: uuid.UUID, _: AdminDep, services: ServicesDep
) -> list[CredentialInfoOut]:
    """A partner's credentials, newest first, so an admin can revoke one by its client id."""
    if await services.store.get(repo.PARTNERS, str(partner_id)) is None:
        raise HTTPProblem(404, "partner not found")
    records = await services.store.find(
        credentials.CREDENTIALS, {"partner_id": str(partner_id)}, limit=1000
    )
    listed = [
        CredentialInfoOut(
            client_id=r.id,
            created_at=datetime.fromisoformat(r.data["created_at"]),
            revoked=bool(r.data["revoked"]),
        )
        for r in records
    ]
    return sorted(listed, key=lambda c: c.created_at, reverse=True)
