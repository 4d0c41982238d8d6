"""What intake holds about one family, whole, for its export (AVG art. 15)."""

from __future__ import annotations

from typing import Any

from alamal_intake.audit import audit_of_family
from alamal_intake.domain import Family
from alamal_intake.privacy import store as repo
from alamal_runtime.privacy import export_document, jsonable
from alamal_runtime.store import Store

MAX_AUDIT = 1_000_000


async def export_family(store: Store, family: Family) -> dict[str, Any]:
    """The family as stored (members, contact data, consent and assignment history), its
    erasure requests and legal hold, and every access to it intake has audited."""
    return export_document(
        "intake",
        family.id,
        family=jsonable(family),
        erasure_requests=jsonable(await repo.requests_of_family(store, family.id)),
        legal_hold=jsonable(await repo.hold_of(store, family.id)),
        access_audit=jsonable(await audit_of_family(store, family.id, limit=MAX_AUDIT)),
    )
