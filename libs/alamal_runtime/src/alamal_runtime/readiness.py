"""Readiness of a service's store: it answers, it takes a write, and its disk has room.

A store that still reads but cannot write (disk full, a read-only file system, a server that
refuses writes, a write lock nobody releases) would accept requests it cannot keep: it is
reported not ready, so the runner, a load balancer or Kubernetes sends traffic elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from alamal_runtime.store import (
    DuplicateError,
    StaleWriteError,
    Store,
    StoreError,
    UnitOfWork,
)
from alamal_runtime.store.sqlite import MEMORY, SqliteStore

HEALTH_COLLECTION = "runtime-health"
PROBE_ID = "write-probe"


class StoreNotWritableError(StoreError):
    """The store answers reads but cannot take a write (or is about to run out of room)."""

    reason = "store_not_writable"


class StoreReadiness:
    """`ping()` for the readiness route: a read, a small committed write, and free disk space.

    The write is one document replaced in place, so probes never grow the store; a result is
    reused for `cache_seconds`, so frequent probes cost one write per interval.
    """

    def __init__(
        self,
        store: Store,
        *,
        min_free_bytes: int,
        timeout_seconds: float = 2.0,
        cache_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._min_free = min_free_bytes
        self._timeout = timeout_seconds
        self._cache = cache_seconds
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()

    async def ping(self) -> None:
        """Raise unless the store reads, writes and (on a file) has `min_free_bytes` free."""
        await self._store.ping()
        self._check_room()
        async with self._lock:
            now = time.monotonic()
            if self._checked_at is not None and now - self._checked_at < self._cache:
                return
            self._checked_at = None
            try:
                async with asyncio.timeout(self._timeout):
                    await self._store.with_transaction(_write_probe, time_limit=self._timeout)
            except (DuplicateError, StaleWriteError):
                pass  # another replica's probe won the race: the store took a write
            except TimeoutError:
                raise StoreNotWritableError(
                    f"a write did not commit within {self._timeout:g} s"
                ) from None
            self._checked_at = time.monotonic()

    def _check_room(self) -> None:
        folder = _folder(self._store)
        if folder is None or self._min_free <= 0:
            return
        try:
            stat = os.statvfs(folder)
        except OSError as exc:
            raise StoreNotWritableError(f"cannot read the free space ({exc.strerror})") from None
        free = stat.f_bavail * stat.f_frsize
        if free < self._min_free:
            raise StoreNotWritableError(
                f"only {free // 1024} KiB free on the store's disk"
                f" (at least {self._min_free // 1024} KiB wanted)"
            )


async def _write_probe(uow: UnitOfWork) -> None:
    data = {"at": datetime.now(UTC).isoformat()}
    current = await uow.get(HEALTH_COLLECTION, PROBE_ID)
    if current is None:
        await uow.insert(HEALTH_COLLECTION, PROBE_ID, data)
    else:
        await uow.replace(HEALTH_COLLECTION, PROBE_ID, data, expected_version=current.version)


def _folder(store: Store) -> Path | None:
    """The folder of a file-backed store (SQLite), where its database and WAL grow."""
    while isinstance(inner := getattr(store, "inner", None), Store):  # a wrapper (sealing)
        store = inner
    if isinstance(store, SqliteStore) and store.path != MEMORY:
        return Path(store.path).parent
    return None
