"""A store that seals declared personal fields on the way in and opens them on the way out.

It wraps any backend (`Store`) and keeps its interface, so a service's repositories change
nothing: the backend's files and documents hold ciphertext only. Each sealed value is one
AES-256-GCM ciphertext under the family's data key, bound (associated data) to the service,
collection, document id and field, so a value moved to another field, document or family does
not open. Fields used in queries (`where`, `order_by`, indexes) cannot be sealed; the store
refuses such a query rather than silently matching nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import structlog

from alamal_runtime.crypto import Keyring
from alamal_runtime.sealing.blind_index import BlindIndex
from alamal_runtime.sealing.codec import Created, seal_doc, unseal_record
from alamal_runtime.sealing.keys import KeyVault
from alamal_runtime.sealing.ledger import ShredLedger
from alamal_runtime.sealing.migrate import seal_existing
from alamal_runtime.sealing.schema import KeyDestroyedError, SealSchema, check_schema
from alamal_runtime.store import (
    Doc,
    OutboxMessage,
    OutboxRecord,
    Record,
    Scalar,
    Store,
    UnitOfWork,
)

log = structlog.get_logger(__name__)


class SealedStore(Store):
    """The service's store with its personal fields sealed per family (see module doc)."""

    def __init__(
        self,
        inner: Store,
        *,
        keyring: Keyring,
        schema: SealSchema,
        service: str,
        keyring_source: str = "the keyring",
        reload_keyring: Callable[[], Keyring] | None = None,
        ledger: ShredLedger | None = None,
    ) -> None:
        super().__init__()
        check_schema(schema)
        self.inner = inner
        self.schema = dict(schema)
        self.service = service
        self.vault = KeyVault(
            inner, keyring, service=service, source=keyring_source, reload=reload_keyring
        )
        self.reload_keyring = reload_keyring
        self.ledger = ledger
        self._index: BlindIndex | None = None

    @property
    def index(self) -> BlindIndex:
        """The keyed blind index of this store (after `open`)."""
        if self._index is None:
            raise RuntimeError("the sealed store is not open")
        return self._index

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Listen to the backend's commits (the relay wakes on them)."""
        self.inner.add_commit_listener(listener)

    async def open(self) -> None:
        """Open the backend, check the KEK against the stored keys, seal legacy plaintext, and
        destroy again every key the shred ledger names (a restored backup may hold them)."""
        await self.inner.open()
        await self.vault.open()
        self._index = BlindIndex(self.vault.index_key)
        await seal_existing(self)
        if self.ledger is not None:
            await self.ledger.open()
            again = await self.vault.destroy_again(await self.ledger.families())
            if again:
                log.warning("data_keys_destroyed_again", count=again)

    async def close(self) -> None:
        """Close the backend (and the ledger)."""
        await self.inner.close()
        if self.ledger is not None:
            await self.ledger.close()

    async def ping(self) -> None:
        """Ping the backend."""
        await self.inner.ping()

    async def ensure_index(self, collection: str, fields: Sequence[str]) -> None:
        """Create an index on plaintext fields; ValueError on a sealed one."""
        self._check_plain(collection, fields)
        await self.inner.ensure_index(collection, fields)

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document, its sealed fields opened; None once its family's key is gone."""
        record = await self.inner.get(collection, doc_id)
        return None if record is None else await self._readable(collection, record)

    async def _readable(self, collection: str, record: Record) -> Record | None:
        try:
            return await self.unseal(collection, record)
        except KeyDestroyedError:
            return None  # erased: its sealed fields are unreadable for good

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[Record]:
        """Documents matching plaintext fields, their sealed fields opened (documents of a family
        whose key was destroyed are left out: erased, they cannot be read)."""
        records = await self.find_sealed(
            collection, where, order_by=order_by, descending=descending, limit=limit, after=after
        )
        opened = [await self._readable(collection, r) for r in records]
        return [r for r in opened if r is not None]

    async def find_sealed(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[Record]:
        """Like `find`, but the sealed fields stay sealed (open the ones you need with `unseal`)."""
        used = [*(where or {}), *([order_by] if order_by else []), *([after[0]] if after else [])]
        self._check_plain(collection, used)
        return await self.inner.find(
            collection, where, order_by=order_by, descending=descending, limit=limit, after=after
        )

    def _check_plain(self, collection: str, fields: Sequence[str]) -> None:
        spec = self.schema.get(collection)
        sealed = sorted(set(fields) & set(spec.fields)) if spec else []
        if sealed:
            raise ValueError(f"{collection}: {sealed} are sealed and cannot be queried or indexed")

    async def unseal(self, collection: str, record: Record, *, reader: Any = None) -> Record:
        """The record with its sealed fields opened; KeyDestroyedError for an erased family."""
        return await unseal_record(self, reader or self.inner, collection, record, None)

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work of the backend that seals what it writes and opens what it reads."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[UnitOfWork]:
        created: Created = {}
        destroyed: list[str] = []
        async with self.inner.transaction() as inner_uow:
            yield SealedUnitOfWork(self, inner_uow, created, destroyed)
        # Only keys of a committed unit of work may be cached (a rolled-back one never existed).
        self.vault.remember(created)
        if destroyed and self.ledger is not None:
            await self.ledger.record(destroyed)

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """The backend's unsent outbox messages."""
        return await self.inner.outbox_pending(limit)

    async def outbox_mark_sent(self, records: Sequence[OutboxRecord]) -> None:
        """Mark outbox records as published in the backend."""
        await self.inner.outbox_mark_sent(records)

    async def outbox_backlog(self) -> int:
        """The backend's outbox backlog."""
        return await self.inner.outbox_backlog()

    async def outbox_requeue(self) -> int:
        """Publish the backend's retained outbox again."""
        return await self.inner.outbox_requeue()

    async def outbox_trim(self, before: datetime) -> dict[str, int]:
        """Apply outbox retention in the backend."""
        return await self.inner.outbox_trim(before)

    def use_keyring(self, keyring: Keyring) -> None:
        """Switch to a reloaded keyring (KEK rotation)."""
        self.vault.use_keyring(keyring)


class SealedUnitOfWork(UnitOfWork):
    """The backend's unit of work, sealing declared fields (see `SealedStore`)."""

    def __init__(
        self, store: SealedStore, inner: UnitOfWork, created: Created, destroyed: list[str]
    ) -> None:
        self._store = store
        self.inner = inner
        self._created = created
        self._destroyed = destroyed

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document in the transaction, its sealed fields opened; None once erased."""
        record = await self.inner.get(collection, doc_id)
        if record is None:
            return None
        try:
            return await unseal_record(self._store, self.inner, collection, record, self._created)
        except KeyDestroyedError:
            return None

    async def insert(self, collection: str, doc_id: str, data: Doc) -> Record:
        """Insert a document with its personal fields sealed; return it as given."""
        sealed = await seal_doc(self._store, self.inner, collection, doc_id, data, self._created)
        record = await self.inner.insert(collection, doc_id, sealed)
        return Record(record.id, record.version, data)

    async def replace(
        self, collection: str, doc_id: str, data: Doc, *, expected_version: int
    ) -> Record:
        """Replace a document with its personal fields sealed; return it as given."""
        sealed = await seal_doc(self._store, self.inner, collection, doc_id, data, self._created)
        record = await self.inner.replace(
            collection, doc_id, sealed, expected_version=expected_version
        )
        return Record(record.id, record.version, data)

    async def delete_all(self, collection: str) -> int:
        """Delete every document of a collection."""
        return await self.inner.delete_all(collection)

    async def delete(self, collection: str, doc_id: str) -> bool:
        """Delete one document; False if it did not exist."""
        return await self.inner.delete(collection, doc_id)

    async def delete_where(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """Delete the documents matching plaintext fields; ValueError on a sealed one."""
        self._store._check_plain(collection, list(where))
        return await self.inner.delete_where(collection, where)

    async def delete_published(self, key: str) -> int:
        """Delete the published outbox messages with this Kafka key."""
        return await self.inner.delete_published(key)

    def emit(self, message: OutboxMessage) -> None:
        """Queue an event (events are thin: never sealed)."""
        self.inner.emit(message)

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Claim an event in the backend's inbox."""
        return await self.inner.claim_inbox(consumer, event_id)

    async def claim_inbox_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Claim a batch of events in the backend's inbox; the newly claimed ids."""
        return await self.inner.claim_inbox_many(consumer, event_ids)

    async def destroy_family_key(self, family_id: str) -> bool:
        """Destroy the family's data key (crypto-shredding); False if it had none.

        Once committed, the family is also recorded in the shred ledger, so a restored backup
        taken before now cannot read the family either.
        """
        self._destroyed.append(family_id)
        return await self._store.vault.destroy(self.inner, family_id)
