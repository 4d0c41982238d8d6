"""SQLite group commit: concurrent units of work share one transaction and one fsync, a failing
unit leaves the others alone, a unit that returned is durable, and a transaction SQLite rolled
back fails every unit in it instead of letting later statements commit on their own."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alamal_runtime.store import OutboxMessage, Record, StoreUnavailableError
from alamal_runtime.store.sqlite import SqliteStore

FAMILIES = "families"


class DeliberateError(Exception):
    """Raised on purpose inside a unit of work."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "group.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


def message(n: int) -> OutboxMessage:
    return OutboxMessage(id=f"e-{n}", topic="t", key=f"f-{n}", value=b"v")


async def unit(store: SqliteStore, n: int, *, fail: bool = False) -> None:
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, f"f-{n}", {"n": n})
        uow.emit(message(n))
        if fail:
            raise DeliberateError


async def test_concurrent_units_share_one_commit(store: SqliteStore) -> None:
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))

    await asyncio.gather(*(unit(store, n) for n in range(32)))

    assert commits == [1], "thirty-two units, one transaction"
    assert len(await store.find(FAMILIES, limit=100)) == 32
    pending = await store.outbox_pending()
    assert [r.message.id for r in pending] == [f"e-{n}" for n in range(32)], "in commit order"


async def test_without_group_commit_every_unit_commits_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "alone.sqlite3", group_commit=False)
    await store.open()
    try:
        commits: list[int] = []
        store.add_commit_listener(lambda: commits.append(1))
        await asyncio.gather(*(unit(store, n) for n in range(8)))
        assert len(commits) == 8
    finally:
        await store.close()


async def test_a_failing_unit_leaves_the_others_of_its_group_alone(store: SqliteStore) -> None:
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))
    results = await asyncio.gather(
        *(unit(store, n, fail=n in (3, 7)) for n in range(10)), return_exceptions=True
    )

    failed = [n for n, result in enumerate(results) if isinstance(result, DeliberateError)]
    assert failed == [3, 7]
    assert all(r is None for n, r in enumerate(results) if n not in (3, 7))
    kept = sorted(r.data["n"] for r in await store.find(FAMILIES, limit=100))
    assert kept == [n for n in range(10) if n not in (3, 7)]
    assert sorted(r.message.id for r in await store.outbox_pending()) == sorted(
        f"e-{n}" for n in kept
    )
    assert commits == [1]


async def test_a_unit_reads_what_earlier_units_of_its_group_wrote(store: SqliteStore) -> None:
    async with store.transaction() as uow:
        await uow.insert("counters", "c", {"n": 0})

    async def increment() -> None:
        async with store.transaction() as uow:
            current = await uow.get("counters", "c")
            assert current is not None
            await uow.replace(
                "counters", "c", {"n": current.data["n"] + 1}, expected_version=current.version
            )

    await asyncio.gather(*(increment() for _ in range(25)))
    assert await store.get("counters", "c") == Record("c", 26, {"n": 25})


async def test_reads_outside_see_a_group_only_once_it_committed(store: SqliteStore) -> None:
    first_done = asyncio.Event()
    release = asyncio.Event()
    seen_while_open: list[Record | None] = []

    async def first() -> None:
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, "f-1", {"n": 1})
        first_done.set()

    async def second() -> None:
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, "f-2", {"n": 2})
            seen_while_open.append(await store.get(FAMILIES, "f-1"))
            release.set()

    await asyncio.gather(first(), second())
    assert release.is_set()
    assert first_done.is_set()
    assert seen_while_open == [None], "f-1 waited in the open group for the shared commit"
    assert await store.get(FAMILIES, "f-1") is not None


async def test_a_transaction_sqlite_rolled_back_fails_every_unit_in_it(
    store: SqliteStore,
) -> None:
    async def dropped() -> None:
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, "dropped", {"n": 0})
            # What SQLite does on disk full or an I/O error: the whole transaction is gone.
            await store._write(lambda c: c.execute("ROLLBACK"))
            await uow.insert(FAMILIES, "after", {"n": 1})

    results = await asyncio.gather(
        unit(store, 1), dropped(), unit(store, 2), return_exceptions=True
    )

    assert isinstance(results[0], StoreUnavailableError), "its group was rolled back"
    assert isinstance(results[1], StoreUnavailableError)
    assert results[2] is None, "a unit queued behind it starts a fresh transaction"
    kept = {r.id for r in await store.find(FAMILIES, limit=100)}
    assert "f-2" in kept
    assert "after" not in kept, "no statement committed on its own"
    assert "dropped" not in kept
    assert "f-1" not in kept
    await unit(store, 3)
    assert await store.get(FAMILIES, "f-3") is not None, "the store goes on"


_CONCURRENT_UNITS_THEN_REPORT = """
import asyncio, sys
from alamal_runtime.store import OutboxMessage
from alamal_runtime.store.sqlite import SqliteStore

async def main(path):
    store = SqliteStore(path)
    await store.open()

    async def one(n):
        async with store.transaction() as uow:
            await uow.insert("families", f"f-{n}", {"n": n})
            uow.emit(OutboxMessage(id=f"e-{n}", topic="t", key=f"f-{n}", value=b"v"))
        print(n, flush=True)

    n = 0
    while True:
        await asyncio.gather(*(one(n + i) for i in range(16)))
        n += 16

asyncio.run(main(sys.argv[1]))
"""


def _start_writer(path: Path) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _CONCURRENT_UNITS_THEN_REPORT, str(path)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603


async def test_every_unit_that_returned_survives_a_sigkill_of_concurrent_writers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crash.sqlite3"
    writer = _start_writer(path)
    assert writer.stdout is not None
    reported: set[int] = set()
    for line in writer.stdout:
        reported.add(int(line))
        if len(reported) >= 200:
            writer.send_signal(signal.SIGKILL)
            break
    writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    store = SqliteStore(path)
    await store.open()
    try:
        stored = {r.data["n"] for r in await store.find(FAMILIES, limit=100_000)}
        assert reported <= stored, "a unit that returned was lost"
        assert await store.outbox_backlog() == len(stored), "documents and outbox together"
    finally:
        await store.close()
