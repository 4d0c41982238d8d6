"""Rebuild the projection from a source that holds its whole history, or refuse.

The topics are read to their end first (see `source`). The source must hold every event the
projection was built from (its ledger), except those of erased families: a source that lacks
any is incomplete (on the embedded default, a broker restart lost events that no producer's
retained outbox could publish again), and the rebuild then stops before it drops anything and
names what is missing per topic. Otherwise the projection is dropped, the topics are read once
more from where the first read stopped (what the live service handled meanwhile), and the merged
facts are written in batches (one unit of work each). The merge is idempotent and order-free,
so events the live service handles during the rebuild are neither lost nor counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from alamal_reporting import erasures, ledger, store
from alamal_reporting.handlers import CONSUMED_TOPICS
from alamal_reporting.source import Progress, SourceStalledError, read_source
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)

RebuildStalledError = SourceStalledError
"""The broker stopped delivering before the end offsets were reached."""


class IncompleteSourceError(RuntimeError):
    """The topics lack events the projection was built from: rebuilding would lose them."""

    def __init__(self, missing: dict[str, int]) -> None:
        self.missing = dict(sorted(missing.items()))
        listed = ", ".join(f"{topic}: {count}" for topic, count in self.missing.items())
        super().__init__(
            f"the topics lack {sum(missing.values())} events the projection was built from"
            f" ({listed}); nothing was dropped. Let the producers publish their retained"
            " outboxes (they do after a broker restart), or repair with `reconcile`."
        )


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did."""

    dropped: int
    events: int
    skipped: int


async def missing_from(
    projection: Store, source_events: Sequence[str] | set[str]
) -> dict[str, int]:
    """Per topic, how many events the projection was built from are not in the source."""
    return ledger.not_in(
        source_events, await ledger.entries(projection), await ledger.erased(projection)
    )


async def rebuild(
    projection: Store,
    bootstrap: str,
    *,
    topics: Sequence[str] = CONSUMED_TOPICS,
    batch_size: int = 5000,
    progress: Progress | None = None,
    stall_seconds: float = 60.0,
) -> RebuildResult:
    """Drop the projection and replay `topics` into it, if they hold its whole history.

    Erasures are part of the replay: the erasure topic is read first, every erased family is
    marked (as the live consumer marks it), and no fact or ledger entry of a marked family is
    written back (the marks are read again before every batch: the live consumer may erase a
    family meanwhile).
    """
    await erasures.mark_replayed(projection, bootstrap, stall_seconds=stall_seconds)
    source = await read_source(
        bootstrap, topics, batch_size=batch_size, progress=progress, stall_seconds=stall_seconds
    )
    missing = await missing_from(projection, set(source.events))
    if missing:
        log.error("rebuild_refused", missing_per_topic=missing)
        raise IncompleteSourceError(missing)
    dropped = await store.drop(projection)
    # What arrived while the first read ran (the live service may have merged it before the drop).
    await read_source(
        bootstrap,
        topics,
        into=source,
        starts=dict(source.ends),
        batch_size=batch_size,
        progress=progress,
        stall_seconds=stall_seconds,
    )
    pending = list(source.facts.items())
    for start in range(0, len(pending), batch_size):
        erased = await erasures.erased_families(projection)
        batch = dict(pending[start : start + batch_size])
        await store.write_batch(projection, erasures.pending_without(erased, batch))
    erased = await erasures.erased_families(projection)
    kept = {i: e for i, e in source.events.items() if e.family_id not in erased}
    await ledger.add(projection, kept)
    log.info(
        "projection_rebuilt", events=len(source.events), skipped=source.skipped, dropped=dropped
    )
    return RebuildResult(dropped=dropped, events=len(source.events), skipped=source.skipped)
