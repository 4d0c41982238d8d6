"""The embedded store: one SQLite file per service, on the standard library's `sqlite3`.

Every statement runs on one dedicated worker thread that owns the connections, so the event loop
never blocks and statements run in exactly the order they were submitted. A unit of work is one
`BEGIN IMMEDIATE ... COMMIT` on the writer connection, guarded by an asyncio lock (one writer at a
time). Reads outside a unit of work use a second, read-only connection: with WAL they see the last
committed state and never wait for an open unit of work.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from alamal_runtime.store import _sqlite_ops as ops
from alamal_runtime.store._common import (
    EmittingUnitOfWork,
    check_after,
    check_collection,
    check_doc,
    check_field,
    check_fields,
    check_limit,
    check_not_nested,
    check_where,
    normalize_filter,
    utc_now,
)
from alamal_runtime.store.base import (
    Doc,
    OutboxRecord,
    Record,
    Scalar,
    Store,
    StoreError,
    StoreUnavailableError,
    UnitOfWork,
)

MEMORY = ":memory:"
log = structlog.get_logger(__name__)


class SqliteStore(Store):
    """A service's store in one SQLite file (or in memory, for unit tests)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        super().__init__()
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._executor: ThreadPoolExecutor | None = None
        # Both connections are created, used and closed on the worker thread only.
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._writing_task: asyncio.Task[Any] | None = None

    @property
    def path(self) -> str:
        """The database file (or ":memory:")."""
        return self._path

    async def _call[T](self, fn: Callable[[], T]) -> T:
        executor = self._executor
        if executor is None:
            raise StoreUnavailableError("the SQLite store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn)
        except sqlite3.Error as exc:
            if ops.is_unavailable(exc):
                raise StoreUnavailableError(f"SQLite store unavailable: {exc}") from exc
            raise

    def _conn(self, *, read: bool = False) -> sqlite3.Connection:
        conn = (self._reader or self._writer) if read else self._writer
        if conn is None:
            raise StoreUnavailableError("the SQLite store is closed")
        return conn

    async def _write[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a statement of a unit of work (the caller holds the write lock)."""
        return await self._call(lambda: fn(self._conn()))

    async def _read[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read outside any unit of work: committed state only."""
        if self._reader is not None or self._executor is None:
            return await self._call(lambda: fn(self._conn(read=True)))
        async with self._locked():  # in memory there is no second connection
            return await self._write(fn)

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        current = asyncio.current_task()
        check_not_nested(current, self._writing_task)
        async with self._write_lock:
            self._writing_task = current
            try:
                yield
            finally:
                self._writing_task = None

    async def open(self) -> None:
        """Create the file, its parent directories and the tables; idempotent."""
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._executor = executor
        try:
            await self._call(self._connect)
        except BaseException:
            self._executor = None
            executor.submit(self._disconnect)
            executor.shutdown(wait=False)
            raise

    def _connect(self) -> None:
        if self._path != MEMORY:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = ops.connect(self._path, busy_timeout_ms=self._busy_timeout_ms)
        if self._path != MEMORY:
            self._reader = ops.connect(
                self._path, busy_timeout_ms=self._busy_timeout_ms, read_only=True
            )

    def _disconnect(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None

    async def close(self) -> None:
        """Wait for the running unit of work, then close the connections and the thread."""
        if self._executor is None:
            return
        async with self._locked():
            executor, self._executor = self._executor, None
            if executor is None:
                return
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
            executor.shutdown(wait=True)

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless a trivial query answers."""
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    async def ensure_index(self, collection: str, fields: Sequence[str]) -> None:
        """Create an expression index on the fields' JSON values; idempotent."""
        check_collection(collection)
        checked = check_fields(fields)
        async with self._locked():
            await self._write(lambda c: ops.ensure_index(c, collection, checked))

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
        """Open a unit of work: BEGIN IMMEDIATE now, COMMIT on clean exit, else ROLLBACK."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[UnitOfWork]:
        async with self._locked():
            await self._write(ops.begin)
            uow = _SqliteUnitOfWork(self)
            try:
                yield uow
                emitted = uow.finish()
                await self._write(lambda c: ops.commit(c, emitted, utc_now()))
            except BaseException:
                uow.finish()
                # The worker runs jobs in submission order, so even if this await is cancelled
                # the rollback still runs before the next unit of work's BEGIN. A failed rollback
                # must not hide the error that caused it; the next BEGIN rolls back again.
                with suppress(StoreError, sqlite3.Error):
                    await self._write(ops.rollback)
                raise
            if uow.deleted:
                await self._checkpoint()
        if emitted:
            self._notify_outbox_committed()

    async def _checkpoint(self) -> None:
        """After a unit of work that deleted: the deleted content is zeroed in the database
        (`secure_delete`), and the WAL, which still holds the old page images, is truncated."""
        if self._path == MEMORY:
            return
        try:
            done = await self._write(ops.checkpoint)
        except (StoreError, sqlite3.Error) as exc:  # the commit stands; the next one retries
            log.warning("wal_checkpoint_failed", error=type(exc).__name__)
            return
        if not done:
            # Only another process reading the file blocks it; the next deletion tries again,
            # and the last connection to close checkpoints and removes the WAL.
            log.warning("wal_checkpoint_busy", store=Path(self._path).name)

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """Unsent outbox messages, oldest first."""
        check_limit(limit)
        return await self._read(lambda c: ops.outbox_pending(c, limit))

    async def outbox_mark_sent(self, records: Sequence[OutboxRecord]) -> None:
        """Mark outbox records (as `outbox_pending` returned them) as published."""
        if not records:
            return
        batch = [record.seq for record in records]
        async with self._locked():
            await self._write(lambda c: ops.outbox_mark_sent(c, batch, utc_now()))

    async def outbox_backlog(self) -> int:
        """How many outbox messages wait to be published."""
        return await self._read(ops.outbox_backlog)


class _SqliteUnitOfWork(EmittingUnitOfWork):
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.deleted = False
        """Whether this unit of work deleted a row (then the WAL is checkpointed after it)."""
        super().__init__()

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document, including this unit of work's own writes."""
        self._check()
        check_collection(collection)
        return await self._store._write(lambda c: ops.get(c, collection, doc_id))

    async def insert(self, collection: str, doc_id: str, data: Doc) -> Record:
        """Insert a new document at version 1; DuplicateError if the id exists."""
        self._check()
        check_collection(collection)
        check_doc(data)
        return await self._store._write(lambda c: ops.insert(c, collection, doc_id, data))

    async def replace(
        self, collection: str, doc_id: str, data: Doc, *, expected_version: int
    ) -> Record:
        """Replace a document at `expected_version`; StaleWriteError otherwise."""
        self._check()
        check_collection(collection)
        check_doc(data)
        return await self._store._write(
            lambda c: ops.replace(c, collection, doc_id, data, expected_version)
        )

    async def delete_all(self, collection: str) -> int:
        """Delete every document of the collection in this unit of work; return how many."""
        self._check()
        check_collection(collection)
        count = await self._store._write(lambda c: ops.delete_all(c, collection))
        self.deleted |= count > 0
        return count

    async def delete(self, collection: str, doc_id: str) -> bool:
        """Delete one document in this unit of work; False if there was none."""
        self._check()
        check_collection(collection)
        found = await self._store._write(lambda c: ops.delete(c, collection, doc_id))
        self.deleted |= found
        return found

    async def delete_where(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """Delete the documents equal to `where` in this unit of work; return how many."""
        self._check()
        check_collection(collection)
        filters = check_where(where)
        count = await self._store._write(lambda c: ops.delete_where(c, collection, filters))
        self.deleted |= count > 0
        return count

    async def delete_published(self, key: str) -> int:
        """Delete the published outbox messages with this key; return how many."""
        self._check()
        count = await self._store._write(lambda c: ops.delete_published(c, key))
        self.deleted |= count > 0
        return count

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Record the event as handled by `consumer`; False if it already was."""
        self._check()
        return await self._store._write(lambda c: ops.claim_inbox(c, consumer, event_id, utc_now()))
