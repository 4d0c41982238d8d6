"""Watching the platform from outside without loading it: one cheap query for everything.

The bench reads a service's SQLite file through its own read-only connection (WAL lets it read
while the service writes) instead of polling an HTTP endpoint per family, so observing costs the
measured stack nearly nothing and the figures are not bounded by the observer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class ProjectionWatcher:
    """Notes when documents of one collection first appear in a service's SQLite file."""

    def __init__(self, path: Path, collection: str) -> None:
        self._path = path
        self._collection = collection
        self._last_rowid = 0
        self.seen: dict[str, float] = {}
        self._conn: sqlite3.Connection | None = None

    def _poll(self) -> None:
        if self._conn is None:
            if not self._path.exists():
                return
            self._conn = sqlite3.connect(
                f"file:{self._path}?mode=ro", uri=True, check_same_thread=False
            )
        try:
            rows = self._conn.execute(
                "SELECT rowid, id FROM documents WHERE collection = ? AND rowid > ? ORDER BY rowid",
                (self._collection, self._last_rowid),
            ).fetchall()
        except sqlite3.OperationalError:  # the service has not created its tables yet
            return
        now = time.perf_counter()
        for rowid, doc_id in rows:
            self._last_rowid = max(self._last_rowid, rowid)
            self.seen.setdefault(doc_id, now)

    async def watch(self, until: asyncio.Event, interval: float = 0.005) -> None:
        """Poll every `interval` seconds until `until` is set."""
        try:
            while not until.is_set():
                await asyncio.to_thread(self._poll)
                await asyncio.sleep(interval)
            await asyncio.to_thread(self._poll)
        finally:
            if self._conn is not None:
                self._conn.close()


def inbox_count(path: Path) -> int:
    """How many events the service has recorded as handled (0 before its tables exist)."""
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            (count,) = conn.execute("SELECT count(*) FROM inbox").fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(count)


def rss_mib(pids: Iterable[int]) -> dict[int, float]:
    """Resident set size of each live process, in MiB (Linux /proc)."""
    found: dict[int, float] = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found[pid] = int(line.split()[1]) / 1024
    return found


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_avg_1m_at_start": round(load[0], 2)}
