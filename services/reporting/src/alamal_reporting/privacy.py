"""A family's facts in reporting: its export (AVG art. 15) and its erasure (art. 17).

Reporting holds ids, codes, counts and dates per family, case, visit, referral and goal; an
erasure deletes every one of them (the reports then count the family no more) and confirms
with `reporting.family-erased.v1`. A rebuild from the topics reads the erasures too
(`rebuild`), so it cannot bring an erased family back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import FamilyErasureRequested, ReportingFamilyErased
from alamal_reporting import ledger
from alamal_reporting.domain.facts import COLLECTIONS, family_of
from alamal_reporting.erasures import FIND_ALL
from alamal_runtime.erasure import forget_family, mark_erased
from alamal_runtime.events import emit
from alamal_runtime.privacy import export_document
from alamal_runtime.store import Store, UnitOfWork

SOURCE = "/alamal/reporting"
log = structlog.get_logger(__name__)


async def facts_of_family(projection: Store, family_id: str) -> dict[str, dict[str, Any]]:
    """Per collection, the family's stored facts by entity id."""
    found: dict[str, dict[str, Any]] = {}
    for collection in COLLECTIONS:
        records = await projection.find(collection, limit=FIND_ALL)
        found[collection] = {
            r.id: r.data for r in records if family_of(collection, r.id, r.data) == family_id
        }
    return found


async def export_family(projection: Store, family_id: str) -> dict[str, Any]:
    """The facts reporting keeps about the family (codes, counts and dates)."""
    return export_document("reporting", family_id, **await facts_of_family(projection, family_id))


class Eraser:
    """Handles `intake.family-erasure-requested.v1`: removes the facts, then confirms."""

    def __init__(self, projection: Store) -> None:
        self._projection = projection

    async def __call__(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Delete the family's facts in this unit of work and emit the confirmation once."""
        requested = event.data
        if not isinstance(requested, FamilyErasureRequested):
            raise TypeError(f"expected FamilyErasureRequested, got {type(requested).__name__}")
        family_id = requested.family_id
        if not await mark_erased(uow, family_id, requested.request_id, now=datetime.now(UTC)):
            log.info("erasure_already_done", request_id=requested.request_id)
            return
        # The committed facts are complete: no other unit of work commits meanwhile, and the
        # marker makes the consumers skip the family's events from now on.
        deleted = 0
        for collection, docs in (await facts_of_family(self._projection, family_id)).items():
            for entity_id in docs:
                deleted += int(await uow.delete(collection, entity_id))
        # The ledger's entries of the family (event ids) go too: a rebuild no longer asks the
        # topics for events that the erasure removed from them.
        deleted += await uow.delete_where(ledger.LEDGER, {"family_id": family_id})
        deleted += await forget_family(uow, family_id)
        emit(
            uow,
            ReportingFamilyErased(family_id=family_id, request_id=requested.request_id),
            source=SOURCE,
        )
        log.info("family_erased", request_id=requested.request_id, facts=deleted)
