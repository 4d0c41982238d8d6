"""SQLite specifics: durable settings, crash safety, index use, one writer at a time."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alamal_runtime.store import OutboxMessage, Record, StoreUnavailableError, create_store
from alamal_runtime.store.sqlite import SqliteStore

_COMMIT_THEN_REPORT = """
import asyncio, os, signal, sys
from alamal_runtime.store import OutboxMessage
from alamal_runtime.store.sqlite import SqliteStore

async def main(path, count, self_kill):
    store = SqliteStore(path)
    await store.open()
    for i in range(count):
        async with store.transaction() as uow:
            await uow.insert("families", f"f-{i}", {"n": i})
            uow.emit(OutboxMessage(id=f"e-{i}", topic="t", key=f"f-{i}", value=b"v"))
        print(i, flush=True)
        if self_kill:
            os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"))
"""


def _start_writer(path: Path, count: int, *, self_kill: bool) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _COMMIT_THEN_REPORT, str(path), str(count), str(int(self_kill))]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An open SQLite store on a fresh file."""
    store = SqliteStore(tmp_path / "nested" / "dirs" / "service.sqlite3")
    await store.open()
    yield store
    await store.close()


async def test_open_creates_parent_directories_and_durable_settings(
    sqlite_store: SqliteStore,
) -> None:
    assert await asyncio.to_thread(Path(sqlite_store.path).is_file)
    async with sqlite_store.transaction():  # the writer connection
        pragmas = await sqlite_store._write(
            lambda c: [
                c.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        )
    assert pragmas == ["wal", 2, 1, 5000]  # synchronous 2 = FULL


async def test_a_commit_survives_the_process_being_killed_right_after_it(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    writer = _start_writer(path, 1, self_kill=True)
    out, _ = writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    assert out.split() == ["0"]
    assert path.with_name(path.name + "-wal").exists()  # recovered from the WAL, not the file
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.get("families", "f-0") == Record("f-0", 1, {"n": 0})
        pending = await store.outbox_pending()
        assert [r.message for r in pending] == [
            OutboxMessage(id="e-0", topic="t", key="f-0", value=b"v")
        ]
    finally:
        await store.close()


async def test_every_reported_commit_survives_a_sigkill_mid_stream(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    writer = _start_writer(path, 100_000, self_kill=False)
    assert writer.stdout is not None
    last = -1
    for line in writer.stdout:
        last = int(line)
        if last >= 30:
            writer.send_signal(signal.SIGKILL)
            break
    writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    store = SqliteStore(path)
    await store.open()
    try:
        stored = await store.find("families", order_by="n", limit=100_000)
        assert len(stored) >= last + 1
        assert [r.data["n"] for r in stored] == list(range(len(stored)))
        assert await store.outbox_backlog() == len(stored)
    finally:
        await store.close()


async def test_find_uses_the_expression_index(sqlite_store: SqliteStore) -> None:
    await sqlite_store.ensure_index("families", ["wijk"])
    plan = await sqlite_store._read(
        lambda c: c.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM documents WHERE collection = ?"
            " AND json_extract(body, '$.wijk') = ? AND json_type(body, '$.wijk') IN ('text')",
            ("families", "Lombok"),
        ).fetchall()
    )
    assert "doc__families__wijk" in str(plan)


async def test_units_of_work_run_one_at_a_time(sqlite_store: SqliteStore) -> None:
    async with sqlite_store.transaction() as uow:
        await uow.insert("counters", "c", {"n": 0})

    async def increment() -> None:
        async with sqlite_store.transaction() as uow:
            current = await uow.get("counters", "c")
            assert current is not None
            await asyncio.sleep(0)  # give the other units a chance to interleave
            await uow.replace(
                "counters", "c", {"n": current.data["n"] + 1}, expected_version=current.version
            )

    await asyncio.gather(*(increment() for _ in range(20)))
    assert await sqlite_store.get("counters", "c") == Record("c", 21, {"n": 20})


async def test_a_cancelled_unit_rolls_back_and_frees_the_store(sqlite_store: SqliteStore) -> None:
    entered = asyncio.Event()

    async def slow_unit() -> None:
        async with sqlite_store.transaction() as uow:
            await uow.insert("families", "f-1", {"wijk": "Zuilen"})
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(slow_unit())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with sqlite_store.transaction() as uow:
        assert await uow.get("families", "f-1") is None
    assert await sqlite_store.get("families", "f-1") is None


async def test_writing_outside_the_unit_the_task_holds_is_refused(
    sqlite_store: SqliteStore,
) -> None:
    async with sqlite_store.transaction() as uow:
        uow.emit(OutboxMessage(id="e-1", topic="t", key="k", value=b""))
    (pending,) = await sqlite_store.outbox_pending()
    async with sqlite_store.transaction():
        with pytest.raises(RuntimeError, match="deadlock"):
            await sqlite_store.outbox_mark_sent([pending])
        with pytest.raises(RuntimeError, match="deadlock"):
            async with sqlite_store.transaction():
                pass


async def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    await store.open()  # idempotent
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailableError):
        await store.ping()
    with pytest.raises(StoreUnavailableError):
        async with store.transaction():
            pass


async def test_an_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-directory.sqlite3").mkdir()
    store = SqliteStore(tmp_path / "a-directory.sqlite3")
    with pytest.raises(StoreUnavailableError):
        await store.open()
    with pytest.raises(StoreUnavailableError):
        await store.ping()


async def test_an_in_memory_store_works_for_unit_tests() -> None:
    store = create_store("sqlite://:memory:", default_database="unused")
    await store.open()
    try:
        async with store.transaction() as uow:
            await uow.insert("families", "f-1", {"wijk": "Zuilen"})
            assert await uow.claim_inbox("cases", "ev-1")
            uow.emit(OutboxMessage(id="e-1", topic="t", key="f-1", value=b"v"))
        assert [r.id for r in await store.find("families", {"wijk": "Zuilen"})] == ["f-1"]
        assert await store.outbox_backlog() == 1
        await store.ping()
    finally:
        await store.close()


async def test_the_database_is_readable_by_plain_sqlite3(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("families", "f-1", {"wijk": "Zuilen", "active": True})
    await store.close()
    with sqlite3.connect(tmp_path / "s.sqlite3") as conn:
        row = conn.execute("SELECT collection, id, version, body FROM documents").fetchone()
    conn.close()
    assert row == ("families", "f-1", 1, '{"wijk":"Zuilen","active":true}')
