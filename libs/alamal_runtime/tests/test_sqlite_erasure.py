"""SQLite: deleted means gone from the bytes of the database file and its WAL (erasure).

Values are planted in documents (also in ones rewritten several times and in one large enough
to spill into overflow pages) and in published outbox messages; after the deletions every byte
of the database file and the WAL is scanned while the store stays open. A control run with
SQLite's `secure_delete` switched off shows the scan finds what is left in free space.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from alamal_runtime.store import OutboxMessage
from alamal_runtime.store.sqlite import SqliteStore


def _files(path: Path) -> list[Path]:
    return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]


def _hits(path: Path, planted: list[str]) -> list[str]:
    data = b"".join(p.read_bytes() for p in _files(path))
    return [value for value in planted if value.encode() in data]


async def _plant_then_erase(store: SqliteStore, *, secure: bool) -> list[str]:
    """Plant values for one family next to another family's, then erase the first one."""
    if not secure:
        await store._write(lambda c: c.execute("PRAGMA secure_delete = OFF"))
    planted = [f"Planted{uuid.uuid4().hex}" for _ in range(6)]
    kept = f"Kept{uuid.uuid4().hex}"
    async with store.transaction() as uow:
        await uow.insert("families", "f-1", {"name": planted[0], "phone": planted[1]})
        await uow.insert("families", "f-2", {"name": kept})
        await uow.insert("visits", "v-1", {"family_id": "f-1", "note": planted[2] * 400})
        for n in range(40):  # enough rows to fill pages the deletion then frees
            await uow.insert(
                "visits", f"v-x{n}", {"family_id": "f-1", "note": planted[3] + "x" * 300}
            )
        uow.emit(OutboxMessage(id="e-1", topic="t", key="f-1", value=planted[4].encode()))
    async with store.transaction() as uow:
        record = await uow.get("families", "f-1")
        assert record is not None
        await uow.replace("families", "f-1", {"name": planted[5]}, expected_version=1)
    await store.outbox_mark_sent(await store.outbox_pending())
    assert _hits(Path(store.path), planted) != [], "the scan must see the planted values first"
    async with store.transaction() as uow:
        await uow.delete("families", "f-1")
        await uow.delete_where("visits", {"family_id": "f-1"})
        await uow.delete_published("f-1")
    assert await store.get("families", "f-2") is not None
    return [*planted, kept]


async def test_erased_values_are_gone_from_the_file_and_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "service.sqlite3"
    store = SqliteStore(path)
    await store.open()
    try:
        *planted, kept = await _plant_then_erase(store, secure=True)
        found = await asyncio.to_thread(_hits, path, planted)
        assert found == []
        assert await asyncio.to_thread(_hits, path, [kept]) == [kept]  # the scan does see data
        assert path.with_name(path.name + "-wal").stat().st_size == 0  # checkpointed, truncated
    finally:
        await store.close()


async def test_without_secure_delete_the_scan_finds_the_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "service.sqlite3"
    store = SqliteStore(path)
    await store.open()
    try:
        *planted, _ = await _plant_then_erase(store, secure=False)
        assert await asyncio.to_thread(_hits, path, planted) != []
    finally:
        await store.close()


async def test_the_writer_runs_with_secure_delete_and_temp_store_in_memory(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        pragmas = await store._write(
            lambda c: [
                c.execute(f"PRAGMA {n}").fetchone()[0] for n in ("secure_delete", "temp_store")
            ]
        )
    finally:
        await store.close()
    assert pragmas == [1, 2]  # temp_store 2 = MEMORY
