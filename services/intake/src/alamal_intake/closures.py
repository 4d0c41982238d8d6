"""When each family's case closed, from cases' `case-closed` events (for the retention rule).

Ids and a date only. Erasing a family in intake deletes its closure too (`forget_closure`).
"""

from __future__ import annotations

from typing import Any

from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import CaseClosed
from alamal_runtime.retention import instant
from alamal_runtime.store import UnitOfWork

CLOSURES = "retention_closures"
"""Per family (the document id), when its case closed: `{case_id, closed_at}`."""


async def on_case_closed(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Note when the family's case closed (the latest closure counts)."""
    closed = event.data
    if not isinstance(closed, CaseClosed):
        raise TypeError(f"expected CaseClosed, got {type(closed).__name__}")
    data = {"case_id": closed.case_id, "closed_at": closed.closed_at.isoformat()}
    current = await uow.get(CLOSURES, closed.family_id)
    if current is None:
        await uow.insert(CLOSURES, closed.family_id, data)
        return
    known = instant(current.data["closed_at"])
    if known is None or known < closed.closed_at:
        await uow.replace(CLOSURES, closed.family_id, data, expected_version=current.version)


async def forget_closure(uow: UnitOfWork, *, family_id: str) -> None:
    """Part of erasing a family in intake: its closure date goes too."""
    await uow.delete(CLOSURES, family_id)
