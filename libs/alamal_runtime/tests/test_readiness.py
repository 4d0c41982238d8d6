"""Readiness checks that the store can write, not only read: a full disk, a write lock nobody
releases and a server refusing writes each make the service not ready."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pymongo import AsyncMongoClient

from alamal_runtime.http import health_router
from alamal_runtime.readiness import (
    HEALTH_COLLECTION,
    PROBE_ID,
    StoreNotWritableError,
    StoreReadiness,
)
from alamal_runtime.store import Store, StoreError
from alamal_runtime.store.mongo import MongoStore
from alamal_runtime.store.sqlite import SqliteStore

HUGE = 1 << 62


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "service.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


async def _ready_status(check: StoreReadiness) -> tuple[int, dict[str, Any]]:
    app = FastAPI()
    app.include_router(health_router({"store": check}))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/health/ready")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def test_a_writable_store_is_ready_and_probes_replace_one_document(
    sqlite_store: SqliteStore,
) -> None:
    check = StoreReadiness(sqlite_store, min_free_bytes=1, cache_seconds=0)
    for _ in range(3):
        assert await _ready_status(check) == (200, {"status": "ok", "checks": {"store": "ok"}})
    probe = await sqlite_store.get(HEALTH_COLLECTION, PROBE_ID)
    assert probe is not None
    assert probe.version == 3, "every probe committed a write, in place"
    assert len(await sqlite_store.find(HEALTH_COLLECTION)) == 1


async def test_too_little_free_disk_is_not_ready(sqlite_store: SqliteStore) -> None:
    check = StoreReadiness(sqlite_store, min_free_bytes=HUGE)
    with pytest.raises(StoreNotWritableError, match="free on the store's disk"):
        await check.ping()
    status, body = await _ready_status(check)
    assert status == 503
    assert body["checks"]["store"] == "unavailable (StoreNotWritableError)"


async def test_a_write_lock_held_elsewhere_is_not_ready(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    check = StoreReadiness(sqlite_store, min_free_bytes=0, timeout_seconds=0.3)
    await check.ping()
    other = sqlite3.connect(tmp_path / "service.sqlite3", isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holding the database's write lock
        await sqlite_store.ping()  # it still reads
        with pytest.raises(StoreError):
            await StoreReadiness(sqlite_store, min_free_bytes=0, timeout_seconds=0.3).ping()
    finally:
        other.execute("ROLLBACK")
        other.close()


_FULL_DISK = textwrap.dedent(
    """
    import asyncio, os, sys
    from alamal_runtime.readiness import StoreNotWritableError, StoreReadiness
    from alamal_runtime.store import StoreError
    from alamal_runtime.store.sqlite import SqliteStore

    async def main(folder):
        store = SqliteStore(os.path.join(folder, "service.sqlite3"))
        await store.open()
        check = StoreReadiness(store, min_free_bytes=64 * 1024, cache_seconds=0)
        await check.ping()
        print("ready while there is room")
        written = 0
        try:
            while True:
                async with store.transaction() as uow:
                    await uow.insert("things", f"t{written}", {"blob": "x" * 4000})
                written += 1
        except StoreError as exc:
            print("writes fail:", type(exc).__name__, exc)
        await store.ping()
        print("reads still work")
        try:
            await check.ping()
        except StoreNotWritableError as exc:
            print("not ready:", exc)
        await store.close()

    asyncio.run(main(sys.argv[1]))
    """
)


def test_a_full_disk_is_not_ready(tmp_path: Path) -> None:
    """A real ENOSPC: the store lives on a 1 MiB tmpfs mounted in a user namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux's unshare (user and mount namespaces)")
    mount = tmp_path / "disk"
    mount.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(_FULL_DISK)
    shell = f'mount -t tmpfs -o size=1m tmpfs "{mount}" && exec "{sys.executable}" "$0" "{mount}"'
    run = subprocess.run(  # noqa: S603 - fixed argv
        [unshare, "-rm", "sh", "-c", shell, str(script)], capture_output=True, text=True, timeout=60
    )
    if run.returncode != 0 and "mount" in run.stderr and not run.stdout:
        pytest.skip(f"no user namespace with a tmpfs here: {run.stderr.strip()[-200:]}")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "ready while there is room"
    assert lines[1].startswith("writes fail: StoreUnavailableError"), lines
    assert "disk is full" in lines[1]
    assert lines[2] == "reads still work"
    assert lines[3].startswith("not ready: only "), lines


@pytest.mark.integration
async def test_a_server_refusing_writes_is_not_ready(mongoeco_uri: str) -> None:
    database = f"alamal_test_{uuid.uuid4().hex[:12]}"
    store: Store = MongoStore(mongoeco_uri, database, server_selection_timeout_ms=5000)
    await store.open()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongoeco_uri)
    try:
        check = StoreReadiness(store, min_free_bytes=HUGE, cache_seconds=0)
        await check.ping()  # no disk check for a server: its disk is the server's business
        await client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": {
                    "failCommands": ["insert", "update", "findAndModify", "commitTransaction"],
                    "errorCode": 14031,  # OutOfDiskSpace
                },
            }
        )
        try:
            await store.ping()  # it still answers
            with pytest.raises(StoreError):
                await check.ping()
        finally:
            await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await check.ping()
    finally:
        await client.drop_database(database)
        await client.close()
        await store.close()
