"""Cases' own retention rule: a closed case's private notes go before the case itself.

The closed case as a whole (visits, plan, referrals) is erased with its family through the
erasure machinery when intake's `closed-case` rule is due; the private notes of its visits,
the most sensitive text cases holds, are cleared earlier (`private-notes`, counted from the
case's closure). The visit stays (date, kind, duration, strengths seen): the timeline and the
reports keep working. Lengths and reasoning: docs/retention.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import batched

from alamal_cases.store import CASES, VISITS
from alamal_runtime.retention import Category, Due, instant
from alamal_runtime.store import Store, UnitOfWork

BATCH = 100


@dataclass(frozen=True, slots=True)
class PrivateNotesRule:
    """Clear the private notes of visits on cases closed before the cutoff."""

    name: str = "cases.private-notes"
    category: Category = Category.PRIVATE_NOTES

    async def due(self, store: Store, cutoff: datetime) -> Due:
        """The visits with a private note on a case closed before `cutoff`."""
        ids: list[str] = []
        async for case in store.scan(CASES, {"status": "closed"}):
            closed = instant(case.data.get("closed_at"))
            if closed is None or closed >= cutoff:
                continue
            async for visit in store.scan(VISITS, {"case_id": case.id}):
                if visit.data.get("private_note"):
                    ids.append(visit.id)
        return Due(tuple(ids))

    async def apply(self, store: Store, ids: Sequence[str]) -> int:
        """Clear each note (a visit changed or gone meanwhile is read again, or skipped)."""
        cleared = 0
        for chunk in batched(ids, BATCH, strict=False):

            async def work(uow: UnitOfWork, chunk: tuple[str, ...] = chunk) -> int:
                done = 0
                for visit_id in chunk:
                    record = await uow.get(VISITS, visit_id)
                    if record is None or not record.data.get("private_note"):
                        continue
                    data = {**record.data, "private_note": None}
                    await uow.replace(VISITS, visit_id, data, expected_version=record.version)
                    done += 1
                return done

            cleared += await store.with_transaction(work)
        return cleared
