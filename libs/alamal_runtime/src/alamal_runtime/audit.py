"""The access audit every service keeps: who read or changed which family's data, when, why.

Records hold ids and codes only (never names, notes or consent answers), so showing them to an
admin reveals no casework. Denied and missing attempts are recorded alike: one outcome for
both, as the caller sees one answer for both. Each service names its own actions (a code).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Header

from alamal_runtime.auth import Principal
from alamal_runtime.store import Record, Store, UnitOfWork
from alamal_runtime.telemetry import tag_ids

ACCESS_AUDIT = "access_audit"
REASON_PATTERN = r"^[a-z0-9-]{1,40}$"
DEFAULT_REASON = "casework"

AccessReason = Annotated[
    str,
    Header(
        alias="X-Access-Reason",
        pattern=REASON_PATTERN,
        description="Why the caller accesses the family: a short code, recorded in the audit.",
    ),
]
"""The `X-Access-Reason` header; routes default it to `DEFAULT_REASON`."""


class AuditOutcome(StrEnum):
    """Whether it was allowed; denied and missing are one outcome on purpose."""

    ALLOWED = "allowed"
    DENIED_OR_MISSING = "denied-or-missing"


@dataclass(frozen=True, slots=True)
class AccessAudit:
    """One audited access attempt."""

    id: str
    at: datetime
    user_id: str
    role: str
    action: str
    """What was attempted: a code of the service's own, e.g. `read-family`."""
    family_id: str | None
    """None only for a refused registration or search, which name no family."""
    outcome: AuditOutcome
    reason: str
    refusal: str | None = None
    """Why a refused attempt was refused: a code of the service's own (None when allowed)."""


def entry(
    principal: Principal,
    *,
    action: str,
    family_id: str | None,
    outcome: AuditOutcome,
    reason: str,
    now: datetime,
    refusal: str | None = None,
) -> AccessAudit:
    """A new audit record for `principal`'s attempt."""
    return AccessAudit(
        id=str(uuid.uuid4()),
        at=now,
        user_id=principal.user_id,
        role=principal.role.value,
        action=action,
        family_id=family_id,
        outcome=outcome,
        reason=reason,
        refusal=refusal,
    )


PARTNER_ROLE = "partner"
"""The role recorded for a partner organisation's machine client (not a staff role)."""


def partner_entry(
    partner_id: str,
    *,
    action: str,
    family_id: str | None,
    outcome: AuditOutcome,
    reason: str,
    now: datetime,
    refusal: str | None = None,
) -> AccessAudit:
    """A new audit record for a partner's attempt through the partner API (`user_id` is the
    partner's id)."""
    return AccessAudit(
        id=str(uuid.uuid4()),
        at=now,
        user_id=partner_id,
        role=PARTNER_ROLE,
        action=action,
        family_id=family_id,
        outcome=outcome,
        reason=reason,
        refusal=refusal,
    )


async def write_audit(uow: UnitOfWork, record: AccessAudit) -> None:
    """Store an audit record inside a unit of work (the same one as the write it audits)."""
    tag_ids(family_id=record.family_id)  # every access to a family can be found in the traces
    await uow.insert(
        ACCESS_AUDIT,
        record.id,
        {
            # Fixed-width timestamps sort as text in both backends.
            "at": record.at.isoformat(timespec="microseconds"),
            "user_id": record.user_id,
            "role": record.role,
            "action": str(record.action),
            "family_id": record.family_id,
            "outcome": record.outcome.value,
            "reason": record.reason,
            "refusal": record.refusal,
        },
    )


async def audit(store: Store, record: AccessAudit) -> None:
    """Store an audit record in a unit of work of its own (reads and refusals)."""

    async def work(uow: UnitOfWork) -> None:
        await write_audit(uow, record)

    await store.with_transaction(work)


def audit_from_record(record: Record) -> AccessAudit:
    """Rebuild an audit record from the store."""
    d = record.data
    return AccessAudit(
        id=record.id,
        at=datetime.fromisoformat(d["at"]),
        user_id=d["user_id"],
        role=d["role"],
        action=d["action"],
        family_id=d["family_id"],
        outcome=AuditOutcome(d["outcome"]),
        reason=d["reason"],
        refusal=d.get("refusal"),
    )


async def audit_of_family(store: Store, family_id: str, *, limit: int) -> list[AccessAudit]:
    """A family's audit records, newest first."""
    records = await store.find(
        ACCESS_AUDIT, {"family_id": family_id}, order_by="at", descending=True, limit=limit
    )
    return [audit_from_record(r) for r in records]


async def prepare_audit(store: Store) -> None:
    """Indexes the audit queries need."""
    await store.ensure_index(ACCESS_AUDIT, ["family_id", "at"])
