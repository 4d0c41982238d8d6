"""The projection in the service's own store: one document per entity, merged on every write."""

from __future__ import annotations

from collections.abc import Iterable

from alamal_reporting.domain.facts import (
    CASES,
    COLLECTIONS,
    FAMILIES,
    GOALS,
    REFERRALS,
    VISITS,
    Fact,
    FactDoc,
    merge,
)
from alamal_reporting.domain.model import Snapshot
from alamal_runtime.store import DuplicateError, Store, UnitOfWork

type Key = tuple[str, str]


async def apply(uow: UnitOfWork, facts: Iterable[Fact]) -> None:
    """Merge facts into their stored entities inside the caller's unit of work."""
    for fact in facts:
        await _merge_one(uow, fact.collection, fact.entity_id, fact.parts)


async def _merge_one(uow: UnitOfWork, collection: str, entity_id: str, parts: FactDoc) -> None:
    current = await uow.get(collection, entity_id)
    if current is None:
        await uow.insert(collection, entity_id, parts)
        return
    merged = merge(current.data, parts)
    if merged != current.data:
        await uow.replace(collection, entity_id, merged, expected_version=current.version)


def combine(pending: dict[Key, FactDoc], facts: Iterable[Fact]) -> None:
    """Merge facts into an in-memory batch (rebuild): one write per entity per batch."""
    for fact in facts:
        key = (fact.collection, fact.entity_id)
        pending[key] = merge(pending[key], fact.parts) if key in pending else fact.parts


async def write_batch(store: Store, pending: dict[Key, FactDoc]) -> None:
    """Merge a batch of combined facts into the store in one unit of work.

    A rebuild starts from an empty projection, so most entities are new: try the insert first
    and merge only when the entity exists (one statement instead of two for most of them).
    """
    async with store.transaction() as uow:
        for (collection, entity_id), parts in pending.items():
            try:
                await uow.insert(collection, entity_id, parts)
            except DuplicateError:
                await _merge_one(uow, collection, entity_id, parts)


async def drop(store: Store) -> int:
    """Delete the whole projection in one unit of work; return how many entities it held."""
    async with store.transaction() as uow:
        return sum([await uow.delete_all(collection) for collection in COLLECTIONS])


async def snapshot(store: Store) -> Snapshot:
    """Every stored fact, by collection and entity id (the reports are computed from these)."""

    async def scan(collection: str) -> dict[str, FactDoc]:
        # Paged by id: no backend is asked for an unbounded (or 64-bit) result at once.
        return {record.id: record.data async for record in store.scan(collection)}

    return Snapshot(
        families=await scan(FAMILIES),
        cases=await scan(CASES),
        visits=await scan(VISITS),
        referrals=await scan(REFERRALS),
        goals=await scan(GOALS),
    )
