"""What every service's privacy routes share: privacy officers only, every attempt audited.

`GET /privacy/families/{id}/export` answers, per service, everything that service holds about a
family (AVG art. 15). Only a privacy officer may ask; any other role gets 403, and the refusal
is written to the service's access audit like the allowed export is.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Header

from alamal_runtime.audit import REASON_PATTERN, AuditOutcome, audit, entry, write_audit
from alamal_runtime.auth import Principal, Role
from alamal_runtime.http import CurrentPrincipal, HTTPProblem, StoreDep
from alamal_runtime.store import Store, UnitOfWork

EXPORT_ACTION = "export-family"
EXPORT_REASON = "avg-access"
"""The default `X-Access-Reason` of an export: a family's request under AVG art. 15."""
PRIVACY_OFFICERS_ONLY = "only a privacy officer may do this"

ExportReason = Annotated[
    str,
    Header(
        alias="X-Access-Reason",
        pattern=REASON_PATTERN,
        description="Why the family's data is exported: a short code, recorded in the audit.",
    ),
]


async def refuse_unless_privacy_officer(
    store: Store, principal: Principal, *, action: str, family_id: str | None, reason: str
) -> None:
    """403 (audited) for every role but the privacy officer."""
    if principal.role is Role.PRIVACY_OFFICER:
        return
    await audit_refusal(store, principal, action=action, family_id=family_id, reason=reason)
    raise HTTPProblem(403, PRIVACY_OFFICERS_ONLY)


async def audit_refusal(
    store: Store, principal: Principal, *, action: str, family_id: str | None, reason: str
) -> None:
    """Record a refused attempt (its own unit of work): the refusal is audited like access."""
    await audit(
        store,
        entry(
            principal,
            action=action,
            family_id=family_id,
            outcome=AuditOutcome.DENIED_OR_MISSING,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )


type FamilyExport = Callable[[Store, str], Awaitable[dict[str, Any]]]
"""A service's export of one family: everything it holds about it, from its store."""


def export_router(export_family: FamilyExport, *, description: str) -> APIRouter:
    """The service's `GET /privacy/families/{family_id}/export`, answered by `export_family`
    (`description` says what it holds, for the OpenAPI document)."""
    router = APIRouter(prefix="/privacy", tags=["privacy"])

    @router.get("/families/{family_id}/export", description=description)
    async def export(
        family_id: uuid.UUID,
        principal: CurrentPrincipal,
        store: StoreDep,
        reason: ExportReason = EXPORT_REASON,
    ) -> dict[str, Any]:
        fid = str(family_id)
        await refuse_unless_privacy_officer(
            store, principal, action=EXPORT_ACTION, family_id=fid, reason=reason
        )
        await audit_export(store, principal, fid, reason)
        return await export_family(store, fid)

    return router


async def audit_export(store: Store, principal: Principal, family_id: str, reason: str) -> None:
    """Record an allowed export of the family's data (its own unit of work)."""
    async with store.transaction() as uow:
        await write_export_audit(uow, principal, family_id, reason)


async def write_export_audit(
    uow: UnitOfWork, principal: Principal, family_id: str, reason: str
) -> None:
    """Record an allowed export inside the caller's unit of work."""
    await write_audit(
        uow,
        entry(
            principal,
            action=EXPORT_ACTION,
            family_id=family_id,
            outcome=AuditOutcome.ALLOWED,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )


def export_document(service: str, family_id: str, **sections: Any) -> dict[str, Any]:
    """The common shape of a service's export: which service, which family, when, and what."""
    return {
        "service": service,
        "family_id": family_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "sections": sections,
    }


def jsonable(value: Any) -> Any:
    """A domain object as plain JSON values: dataclasses as objects, enums as their codes,
    instants and days as ISO text, tuples and sets as lists (sets sorted)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
