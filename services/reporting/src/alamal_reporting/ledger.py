"""The ledger of handled events: which events the projection was built from (ids only).

One document per event the projection merged: its id, its topic and the family it is about.
A rebuild checks its source against it: a source that lacks any event the projection was built
from is incomplete (a broker incarnation lost it and no producer could publish it again), and
the rebuild refuses rather than drop what the projection has. The ledger holds ids and topic
names only; an erased family's entries go with its other data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import Event, EventBase
from alamal_runtime.store import Store, UnitOfWork

LEDGER = "rp-ledger"
ERASED_FAMILIES = "erased_families"
"""Where the runtime's erasure marks erased families (their events are skipped)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One handled event: its topic and the family it is about (None: not about a family)."""

    topic: str
    family_id: str | None


def entry_of(event: EventBase) -> Entry:
    """The ledger entry of an event's data."""
    return Entry(event.TOPIC, event.family_id if isinstance(event, Event) else None)


def _doc(entry: Entry) -> dict[str, str | None]:
    return {"topic": entry.topic, "family_id": entry.family_id}


async def record(uow: UnitOfWork, event: CloudEvent[EventBase]) -> None:
    """Note in the consumer's unit of work that `event` was merged (once, whoever came first)."""
    if await uow.get(LEDGER, event.id) is None:
        await uow.insert(LEDGER, event.id, _doc(entry_of(event.data)))


async def add(store: Store, entries: Mapping[str, Entry], *, batch_size: int = 2000) -> int:
    """Add the entries the ledger does not hold yet (a rebuild or a repair merged them)."""
    added = 0
    items = list(entries.items())
    for start in range(0, len(items), batch_size):
        async with store.transaction() as uow:
            for event_id, entry in items[start : start + batch_size]:
                if await uow.get(LEDGER, event_id) is None:
                    await uow.insert(LEDGER, event_id, _doc(entry))
                    added += 1
    return added


async def entries(store: Store) -> dict[str, Entry]:
    """Every ledger entry, by event id (read page by page)."""
    return {
        r.id: Entry(str(r.data["topic"]), r.data.get("family_id")) async for r in store.scan(LEDGER)
    }


async def erased(store: Store) -> set[str]:
    """The families erased here: their events may be gone from every source, on purpose."""
    return {record.id async for record in store.scan(ERASED_FAMILIES)}


def not_in(source: Iterable[str], ledger: Mapping[str, Entry], skip: set[str]) -> dict[str, int]:
    """Per topic, how many ledger events (of families not in `skip`) the source lacks."""
    present = set(source)
    missing: dict[str, int] = {}
    for event_id, entry in ledger.items():
        if event_id not in present and entry.family_id not in skip:
            missing[entry.topic] = missing.get(entry.topic, 0) + 1
    return missing
