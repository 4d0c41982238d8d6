"""The SQLite writer: group commit of concurrent units of work.

One connection writes. Units of work run one at a time (an asyncio lock), each inside a
savepoint of a transaction they may share: a unit that finds the transaction already open joins
it, and units that queued while it ran join it too. The transaction commits (one COMMIT, one
fsync) once the units queued before the commit have run; every unit's `async with` returns only
after that commit, so a unit that returned is durable. A unit that fails rolls back to its
savepoint and leaves the others alone; if SQLite rolls back the whole transaction (disk full,
I/O error), every unit in it gets StoreUnavailableError and nothing of it is kept.

Statements of a unit run on the event loop's thread: each takes microseconds and never waits for
a lock (the transaction already holds SQLite's write lock), so a thread hop per statement would
cost more than the statement. BEGIN (which may wait for another process's lock), COMMIT (the
fsync) and bulk work run on the writer's own thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from alamal_runtime.store import _sqlite_ops as ops
from alamal_runtime.store._common import check_not_nested
from alamal_runtime.store.base import StoreError, StoreUnavailableError

log = structlog.get_logger(__name__)


class Group:
    """Units of work sharing one transaction; `committed` resolves when it commits or fails."""

    __slots__ = ("broken", "commit_queued", "committed", "deleted", "emitted")

    def __init__(self) -> None:
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.emitted = False
        self.deleted = False
        self.broken = False
        self.commit_queued = False


def mapped[T](fn: Callable[[], T]) -> T:
    """Run a statement, turning SQLite's "try again later" errors into StoreUnavailableError."""
    try:
        return fn()
    except sqlite3.Error as exc:
        if ops.is_unavailable(exc):
            raise StoreUnavailableError(f"SQLite store unavailable: {exc}") from exc
        raise


class Writer:
    """The writer connection, its thread, and the groups of units of work committed together."""

    def __init__(self, path: str, *, busy_timeout_ms: int, group_commit: bool) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._group_commit = group_commit
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._group: Group | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.on_outbox_committed: Callable[[], None] = lambda: None

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer connection (only while the caller holds the write lock)."""
        if self._conn is None:
            raise StoreUnavailableError("the SQLite store is closed")
        return self._conn

    async def call[T](self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer's thread (the caller holds the write lock)."""
        executor = self._executor
        if executor is None:
            raise StoreUnavailableError("the SQLite store is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: mapped(fn))

    async def open(self) -> None:
        """Start the thread and connect (creating the schema)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        try:
            self._conn = await self.call(
                lambda: ops.connect(
                    self._path, busy_timeout_ms=self._busy_timeout_ms, check_same_thread=False
                )
            )
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        """Wait for the units of work in progress, commit the open group, close."""
        if self._executor is None:
            return
        async with self.locked():
            if self._group is not None:
                with suppress(StoreError, sqlite3.Error):
                    await self._commit_locked(self._group)
            executor, self._executor = self._executor, None
            if executor is None:
                return
            conn, self._conn = self._conn, None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the write lock; a task that already holds it may not wait for it again."""
        current = asyncio.current_task()
        check_not_nested(current, self._owner)
        async with self._lock:
            self._owner = current
            try:
                yield
            finally:
                self._owner = None

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Group]:
        """One unit of work in a savepoint of the group's transaction; durable on return."""
        async with self.locked():
            group = await self._join()
            conn = self.connection
            mapped(lambda: ops.savepoint(conn))
            try:
                yield group
                mapped(lambda: ops.release(conn))
            except BaseException:
                self._undo(group)
                if self._group_commit:
                    self._spawn(self._commit_quietly(group))
                else:
                    with suppress(Exception):
                        await self._commit_locked(group)
                    _retrieved(group.committed)
                raise
            if not self._group_commit:
                await self._commit_locked(group)
        if self._group_commit:
            await asyncio.shield(self._commit(group))

    async def _join(self) -> Group:
        group = self._group
        if group is not None and (group.broken or not self.connection.in_transaction):
            group.broken = True
            with suppress(StoreError, sqlite3.Error):
                await self._commit_locked(group)  # fails its units; a fresh group starts
            group = None
        if group is None:
            await self.call(lambda: ops.begin(self.connection))
            group = self._group = Group()
        return group

    def _undo(self, group: Group) -> None:
        """Roll a failed unit back to its savepoint; if SQLite dropped the whole transaction,
        the group is broken."""
        conn = self.connection
        if not conn.in_transaction:
            group.broken = True
            return
        try:
            ops.rollback_to_savepoint(conn)
        except sqlite3.Error:
            group.broken = True

    async def _commit(self, group: Group) -> None:
        """Commit the group once the units already waiting for the lock have joined it."""
        if not group.commit_queued:
            group.commit_queued = True
            async with self._lock:
                if self._group is group:
                    with suppress(Exception):  # the units learn the outcome from `committed`
                        await self._commit_locked(group)
        await group.committed

    async def _commit_quietly(self, group: Group) -> None:
        with suppress(Exception):
            await self._commit(group)
        _retrieved(group.committed)

    async def _commit_locked(self, group: Group) -> None:
        """COMMIT the group (the caller holds the lock); its units learn the outcome."""
        self._group = None
        conn = self.connection
        try:
            if group.broken:
                raise StoreUnavailableError("SQLite rolled back the transaction; retry the unit")
            await self.call(lambda: ops.commit(conn))
        except BaseException as exc:
            with suppress(StoreError, sqlite3.Error):
                await self.call(lambda: ops.rollback(conn))
            if not group.committed.done():
                failure = exc if isinstance(exc, Exception) else None
                group.committed.set_exception(
                    failure or StoreUnavailableError("SQLite commit interrupted; retry the unit")
                )
            raise
        if group.deleted:
            await self._checkpoint()
        group.committed.set_result(None)
        if group.emitted:
            self.on_outbox_committed()

    async def _checkpoint(self) -> None:
        """After a commit that deleted: the deleted content is zeroed in the database
        (`secure_delete`), and the WAL, which still holds the old page images, is truncated
        before the units of work return."""
        if self._path == ":memory:":
            return
        conn = self.connection
        try:
            done = await self.call(lambda: ops.checkpoint(conn))
        except (StoreError, sqlite3.Error) as exc:  # the commit stands; the next one retries
            log.warning("wal_checkpoint_failed", error=type(exc).__name__)
            return
        if not done:
            # Only another process reading the file blocks it; the next deletion tries again,
            # and the last connection to close checkpoints and removes the WAL.
            log.warning("wal_checkpoint_busy", store=Path(self._path).name)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a failed group's outcome as seen by a unit that failed on its own anyway."""
    if future.done() and not future.cancelled():
        future.exception()
