"""Reconcile the projection with its sources: find what differs and repair it, dropping nothing.

The topics are read to their end and merged per entity, as a rebuild would. Then:
- an event in the source that the ledger lacks was never merged here (lost on its way, or
  handled before the ledger existed): its facts are merged in and it is added to the ledger;
- an entity whose stored facts lack something the source's facts hold (`merge(stored, source)
  != stored`) is repaired by that merge (the merge is idempotent: a repaired entity equals what
  the live consumer would have stored);
- an event in the ledger that the source lacks cannot be checked (the source is incomplete for
  it), and an entity stored here but absent from the source is kept: both are only counted.
Repairs are merges, so reconciling while the service runs, or twice, changes nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from alamal_reporting import ledger, store
from alamal_reporting.domain.facts import COLLECTIONS, FactDoc, merge
from alamal_reporting.handlers import CONSUMED_TOPICS
from alamal_reporting.source import Progress, read_source
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What a reconciliation found (and repaired, unless it only checked)."""

    source_events: int
    unmerged_events: int
    """Events in the source that the projection's ledger lacked."""
    differing_entities: int
    """Entities whose stored facts lacked part of the source's."""
    not_in_source: dict[str, int]
    """Per topic, ledger events the source lacks (they cannot be checked)."""
    only_here: int
    """Stored entities the source has no event for (kept)."""
    repaired: bool

    @property
    def consistent(self) -> bool:
        """Whether the projection holds everything its source holds (nothing to repair)."""
        return self.unmerged_events == 0 and self.differing_entities == 0


async def reconcile(
    projection: Store,
    bootstrap: str,
    *,
    topics: Sequence[str] = CONSUMED_TOPICS,
    repair: bool = True,
    batch_size: int = 2000,
    progress: Progress | None = None,
    stall_seconds: float = 60.0,
) -> ReconcileResult:
    """Compare the projection with `topics`; merge in what it lacks when `repair` is set."""
    source = await read_source(
        bootstrap, topics, batch_size=batch_size, progress=progress, stall_seconds=stall_seconds
    )
    entries = await ledger.entries(projection)
    erased = await ledger.erased(projection)
    unmerged = {i: e for i, e in source.events.items() if i not in entries}
    by_collection = {
        collection: {r.id: r.data async for r in projection.scan(collection)}
        for collection in COLLECTIONS
    }
    repairs: dict[tuple[str, str], FactDoc] = {}
    for (collection, entity_id), facts in source.facts.items():
        have = by_collection[collection].get(entity_id)
        if have is None or merge(have, facts) != have:
            repairs[(collection, entity_id)] = facts
    only_here = sum(
        1
        for collection, entities in by_collection.items()
        for entity_id in entities
        if (collection, entity_id) not in source.facts
    )
    result = ReconcileResult(
        source_events=len(source.events),
        unmerged_events=len(unmerged),
        differing_entities=len(repairs),
        not_in_source=ledger.not_in(source.events, entries, erased),
        only_here=only_here,
        repaired=repair and bool(repairs or unmerged),
    )
    if repair:
        pending = list(repairs.items())
        for start in range(0, len(pending), batch_size):
            # write_batch merges into what is stored now: a live write meanwhile is kept.
            await store.write_batch(projection, dict(pending[start : start + batch_size]))
        await ledger.add(projection, unmerged)
    log.info(
        "projection_reconciled",
        source_events=result.source_events,
        unmerged_events=result.unmerged_events,
        differing_entities=result.differing_entities,
        not_in_source=sum(result.not_in_source.values()),
        only_here=result.only_here,
        repaired=result.repaired,
    )
    return result
