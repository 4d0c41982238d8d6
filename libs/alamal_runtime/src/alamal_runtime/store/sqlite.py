"""The embedded store: one SQLite file per service, on the standard library's `sqlite3`.

Writes go through the group-committing writer (`_sqlite_writer`): units of work run one at a
time on the writer connection, each in a savepoint of a transaction that concurrent units
share, and commit together with one fsync; a unit returns once its transaction has committed.
Reads outside a unit of work use a second, read-only connection on its own thread: with WAL
they see the last committed state and never wait for a unit of work or a commit's fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path

from alamal_runtime.store import _sqlite_ops as ops
from alamal_runtime.store._common import (
    EmittingUnitOfWork,
    check_after,
    check_collection,
    check_doc,
    check_field,
    check_fields,
    check_limit,
    check_where,
    normalize_filter,
    utc_now,
)
from alamal_runtime.store._sqlite_writer import Writer, mapped
from alamal_runtime.store.base import (
    Doc,
    OutboxRecord,
    Record,
    Scalar,
    Store,
    StoreUnavailableError,
    UnitOfWork,
)

MEMORY = ":memory:"


class SqliteStore(Store):
    """A service's store in one SQLite file (or in memory, for unit tests).

    `group_commit=False` commits every unit of work on its own (in memory it always does: there
    is no second connection whose reads could tell committed state from the open group's).
    """

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 5000, group_commit: bool = True
    ) -> None:
        super().__init__()
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._group_commit = group_commit and self._path != MEMORY
        self._writer: Writer | None = None
        # The reader connection is created, used and closed on the reader thread only.
        self._reads: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None

    @property
    def path(self) -> str:
        """The database file (or ":memory:")."""
        return self._path

    def _open_writer(self) -> Writer:
        if self._writer is None:
            raise StoreUnavailableError("the SQLite store is not open")
        return self._writer

    async def _write[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a statement on the writer connection, inline (the caller holds the write lock)."""
        conn = self._open_writer().connection
        return mapped(lambda: fn(conn))

    async def _offload[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run bulk work of the caller's unit of work on the writer's thread."""
        writer = self._open_writer()
        conn = writer.connection
        return await writer.call(lambda: fn(conn))

    async def _read[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read outside any unit of work: committed state only."""
        reads, reader = self._reads, self._reader
        if reads is not None and reader is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(reads, lambda: mapped(lambda: fn(reader)))
        writer = self._open_writer()  # in memory there is no second connection
        async with writer.locked():
            conn = writer.connection
            return mapped(lambda: fn(conn))

    async def open(self) -> None:
        """Create the file, its parent directories and the tables; idempotent."""
        if self._writer is not None:
            return
        if self._path != MEMORY:
            await asyncio.to_thread(Path(self._path).parent.mkdir, parents=True, exist_ok=True)
        writer = Writer(
            self._path, busy_timeout_ms=self._busy_timeout_ms, group_commit=self._group_commit
        )
        writer.on_outbox_committed = self._notify_outbox_committed
        await writer.open()
        self._writer = writer
        if self._path == MEMORY:
            return
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        try:
            self._reader = await asyncio.get_running_loop().run_in_executor(
                self._reads,
                lambda: mapped(
                    lambda: ops.connect(
                        self._path, busy_timeout_ms=self._busy_timeout_ms, read_only=True
                    )
                ),
            )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Wait for the units of work in progress, commit, then close connections and threads."""
        if self._writer is not None:
            await self._writer.close()  # units still waiting may use it until then
            self._writer = None
        reads, reader = self._reads, self._reader
        self._reads = self._reader = None
        if reads is not None:
            if reader is not None:
                await asyncio.get_running_loop().run_in_executor(reads, reader.close)
            reads.shutdown(wait=True)

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless a trivial query answers."""
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    async def ensure_index(self, collection: str, fields: Sequence[str]) -> None:
        """Create an expression index on the fields' JSON values; idempotent."""
        check_collection(collection)
        checked = check_fields(fields)
        async with self._open_writer().unit():
            await self._offload(lambda c: ops.ensure_index(c, collection, checked))

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one committed document."""
        check_collection(collection)
        return await self._read(lambda c: ops.get(c, collection, doc_id))

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
        """Committed documents whose top-level fields equal `where` (and past `after`)."""
        check_collection(collection)
        filters = normalize_filter(where)
        order = None if order_by is None else check_field(order_by)
        check_limit(limit)
        past = check_after(after)
        return await self._read(
            lambda c: ops.find(c, collection, filters, order, descending, limit, after=past)
        )

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a unit of work; it is durable once the block has exited, else rolled back."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[UnitOfWork]:
        async with self._open_writer().unit() as group:
            uow = _SqliteUnitOfWork(self)
            try:
                yield uow
            finally:
                emitted = uow.finish()
            await uow._run(lambda c: ops.store_outbox(c, emitted, utc_now()))
            group.emitted |= bool(emitted)
            group.deleted |= uow.deleted

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """Unsent outbox messages, oldest first."""
        check_limit(limit)
        return await self._read(lambda c: ops.outbox_pending(c, limit))

    async def outbox_mark_sent(self, records: Sequence[OutboxRecord]) -> None:
        """Mark outbox records (as `outbox_pending` returned them) as published, in a unit of
        work of its own."""
        if not records:
            return
        batch = [record.seq for record in records]
        async with self._open_writer().unit():
            await self._write(lambda c: ops.outbox_mark_sent(c, batch, utc_now()))

    async def outbox_backlog(self) -> int:
        """How many outbox messages wait to be published."""
        return await self._read(ops.outbox_backlog)

    async def outbox_requeue(self) -> int:
        """Mark the retained published messages unsent again, in a unit of work of its own."""
        async with self._open_writer().unit() as group:
            count = await self._write(ops.outbox_requeue)
            group.emitted |= count > 0  # wakes the relay once committed
        return count

    async def outbox_trim(self, before: datetime) -> dict[str, int]:
        """Delete the messages published before `before`, in a unit of work of its own."""
        async with self._open_writer().unit() as group:
            trimmed = await self._write(lambda c: ops.outbox_trim(c, before))
            group.deleted |= bool(trimmed)  # zeroed and the WAL truncated after the commit
        return trimmed


class _SqliteUnitOfWork(EmittingUnitOfWork):
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.deleted = False
        """Whether this unit of work deleted a row (then the WAL is checkpointed after it)."""
        super().__init__()

    async def _run[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a statement of this unit of work inline on the writer connection."""
        conn = self._store._open_writer().connection
        if not conn.in_transaction:  # SQLite rolled it back (disk full, I/O error): no autocommit
            raise StoreUnavailableError("SQLite rolled back the transaction; retry the unit")
        return mapped(lambda: fn(conn))

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document, including this unit of work's own writes."""
        self._check()
        check_collection(collection)
        return await self._run(lambda c: ops.get(c, collection, doc_id))

    async def insert(self, collection: str, doc_id: str, data: Doc) -> Record:
        """Insert a new document at version 1; DuplicateError if the id exists."""
        self._check()
        check_collection(collection)
        check_doc(data)
        return await self._run(lambda c: ops.insert(c, collection, doc_id, data))

    async def replace(
        self, collection: str, doc_id: str, data: Doc, *, expected_version: int
    ) -> Record:
        """Replace a document at `expected_version`; StaleWriteError otherwise."""
        self._check()
        check_collection(collection)
        check_doc(data)
        return await self._run(lambda c: ops.replace(c, collection, doc_id, data, expected_version))

    async def delete_all(self, collection: str) -> int:
        """Delete every document of the collection in this unit of work; return how many."""
        self._check()
        check_collection(collection)
        count = await self._store._offload(lambda c: ops.delete_all(c, collection))
        self.deleted |= count > 0
        return count

    async def delete(self, collection: str, doc_id: str) -> bool:
        """Delete one document in this unit of work; False if there was none."""
        self._check()
        check_collection(collection)
        found = await self._run(lambda c: ops.delete(c, collection, doc_id))
        self.deleted |= found
        return found

    async def delete_where(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """Delete the documents equal to `where` in this unit of work; return how many."""
        self._check()
        check_collection(collection)
        filters = check_where(where)
        count = await self._run(lambda c: ops.delete_where(c, collection, filters))
        self.deleted |= count > 0
        return count

    async def delete_published(self, key: str) -> int:
        """Delete the published outbox messages with this key; return how many."""
        self._check()
        count = await self._run(lambda c: ops.delete_published(c, key))
        self.deleted |= count > 0
        return count

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Record the event as handled by `consumer`; False if it already was."""
        self._check()
        return await self._run(lambda c: ops.claim_inbox(c, consumer, event_id, utc_now()))

    async def claim_inbox_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Record the ids `consumer` has not handled yet; return them."""
        self._check()
        ids = list(event_ids)
        return await self._run(lambda c: ops.claim_inbox_many(c, consumer, ids, utc_now()))
