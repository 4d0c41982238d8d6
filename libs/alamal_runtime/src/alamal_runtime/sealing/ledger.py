"""The shred ledger: which families' data keys were destroyed, kept apart from the store.

A backup holds the store as it was, wrapped data keys included: restoring one taken before an
erasure would bring the erased family's key back. So every destroyed key is also recorded
here (the family id and when: no personal data), where backups do not reach: beside an SQLite
store in a file of its own (`<store>.shredded.sqlite3`, which `alamal-ops backup` leaves out);
in MongoDB in the service's database as the collection `shredded_keys`, which the documented
`mongodump` leaves out (`--nsExclude`) and `mongorestore --drop` therefore leaves in place.
At start-up the sealed store destroys again every key the ledger names, so a restored backup
cannot read a family erased after it was taken.
Losing the ledger loses only that guarantee for erasures made since the last backup; the
live store's keys are destroyed either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from alamal_runtime.store import DuplicateError, Store
from alamal_runtime.store.factory import sqlite_path_from_url
from alamal_runtime.store.sqlite import MEMORY, SqliteStore

SHREDDED = "shredded_keys"
_EVERYTHING = 10**9


def ledger_for(store_url: str, inner: Store) -> ShredLedger:
    """The ledger of the service whose store is `inner` at `store_url` (see the module doc)."""
    if store_url.partition(":")[0].lower() == "sqlite":
        path = sqlite_path_from_url(store_url)
        if path != MEMORY:
            return ShredLedger(SqliteStore(path.removesuffix(".sqlite3") + ".shredded.sqlite3"))
    return ShredLedger(inner, own_store=False)


class ShredLedger:
    """Family ids whose data keys were destroyed (see the module doc)."""

    def __init__(self, store: Store, *, own_store: bool = True) -> None:
        self.store = store
        self._own = own_store

    async def open(self) -> None:
        """Open the ledger's own store (the service's store is opened by the service)."""
        if self._own:
            await self.store.open()

    async def close(self) -> None:
        """Close the ledger's own store."""
        if self._own:
            await self.store.close()

    async def record(self, family_ids: Iterable[str]) -> None:
        """Remember destroyed keys (recording one twice changes nothing)."""
        at = datetime.now(UTC).isoformat()
        for family_id in family_ids:
            try:
                async with self.store.transaction() as uow:
                    await uow.insert(SHREDDED, family_id, {"destroyed_at": at})
            except DuplicateError:
                continue

    async def families(self) -> list[str]:
        """Every family whose key was destroyed."""
        return [r.id for r in await self.store.find(SHREDDED, limit=_EVERYTHING)]
