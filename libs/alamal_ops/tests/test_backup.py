"""`alamal-ops backup / verify-backup / restore` on real SQLite stores (no stack needed)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from alamal_ops import backup as bk
from alamal_ops.cli import main
from alamal_runtime.crypto import Keyring, new_key, write_keyring
from alamal_runtime.sealing import FamilyIsId, SealedCollection, SealedStore, SealedUnitOfWork
from alamal_runtime.sealing.ledger import ledger_for
from alamal_runtime.store import OutboxMessage
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.leak_scan import hits_in_files


def _message(n: int) -> OutboxMessage:
    return OutboxMessage(id=f"event-{n}", topic="intake.thing.v1", key=f"fam-{n}", value=b"{}")


async def _fill(data_dir: Path, service: str, families: int) -> SqliteStore:
    """An open store with `families` documents, each with its outbox event (marked sent)."""
    store = SqliteStore(bk.store_path(data_dir, service))
    await store.open()
    for n in range(families):
        async with store.transaction() as uow:
            await uow.insert("families", f"fam-{n}", {"n": n})
            uow.emit(_message(n))
    await store.outbox_mark_sent(await store.outbox_pending(limit=1000))
    return store


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    ring = Keyring((new_key(),))
    write_keyring(tmp_path / "backup.keyring", ring)
    return ring


async def test_an_online_backup_is_consistent_and_restores_with_every_event_to_republish(
    tmp_path: Path, keyring: Keyring
) -> None:
    live = tmp_path / "live"
    intake = await _fill(live, "intake", 20)
    cases = await _fill(live, "cases", 3)
    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 1000
        while not stop.is_set():
            async with intake.transaction() as uow:
                await uow.insert("families", f"fam-{n}", {"n": n})
                uow.emit(_message(n))
            n += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    stores = bk.discover_stores(live)
    assert [s.service for s in stores] == ["cases", "intake"]  # consumers first
    folder, manifest = await asyncio.to_thread(bk.take_backup, stores, tmp_path / "out", keyring)
    stop.set()
    await writer
    await intake.close()
    await cases.close()

    assert {s.service for s in manifest.stores} == {"cases", "intake"}
    for blob in folder.glob("*.enc"):
        assert b'"n"' not in blob.read_bytes()  # the snapshots are encrypted
    restored = tmp_path / "restored"
    assert bk.restore_backup(folder, restored, keyring, replace=False) == {}
    back = SqliteStore(bk.store_path(restored, "intake"))
    await back.open()
    families = await back.find("families", limit=100_000)
    pending = await back.outbox_pending(limit=100_000)
    await back.close()
    # One consistent moment: every family with its event, every event unsent again.
    assert len(families) >= 20
    assert sorted(r.message.key for r in pending) == sorted(r.id for r in families)


async def test_a_tampered_or_corrupted_backup_is_refused_and_nothing_is_written(
    tmp_path: Path, keyring: Keyring
) -> None:
    live = tmp_path / "live"
    await (await _fill(live, "intake", 5)).close()
    folder, _ = bk.take_backup(bk.discover_stores(live), tmp_path / "out", keyring)
    target = tmp_path / "target"
    await (await _fill(target, "intake", 1)).close()
    before = _digest(target)
    snapshot = folder / "intake.sqlite3.enc"
    original = snapshot.read_bytes()

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    snapshot.write_bytes(bytes(flipped))
    with pytest.raises(bk.BackupRefusedError, match="checksum mismatch"):
        bk.restore_backup(folder, target, keyring, replace=True)
    snapshot.write_bytes(original[:-10])
    with pytest.raises(bk.BackupRefusedError, match="checksum mismatch"):
        bk.restore_backup(folder, target, keyring, replace=True)
    snapshot.write_bytes(original)

    # A checksum rewritten to match a changed file: the manifest's MAC gives it away.
    manifest_path = folder / bk.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["stores"][0]["sha256"] = hashlib.sha256(bytes(flipped)).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(bk.BackupRefusedError, match="MAC fails"):
        bk.restore_backup(folder, target, keyring, replace=True)
    with pytest.raises(bk.BackupRefusedError, match="does not hold"):
        bk.verify_backup(folder, Keyring((new_key(),)))
    assert _digest(target) == before


def test_an_intact_snapshot_under_a_forged_manifest_entry_does_not_decrypt(
    keyring: Keyring,
) -> None:
    blob = bk.encrypt_snapshot(keyring, b"x" * (bk.CHUNK + 10), service="intake")
    assert bk.decrypt_snapshot(keyring, blob, service="intake") == b"x" * (bk.CHUNK + 10)
    with pytest.raises(bk.BackupRefusedError, match="does not decrypt"):
        bk.decrypt_snapshot(keyring, blob, service="cases")  # renamed to another service
    first_chunk_end = len(bk.MAGIC) + 16 + 16 + 4 + bk.CHUNK + 16
    with pytest.raises(bk.BackupRefusedError, match="does not decrypt"):
        bk.decrypt_snapshot(keyring, blob[:first_chunk_end], service="intake")  # cut at a chunk


async def test_restore_over_existing_stores_needs_replace_and_a_stopped_service(
    tmp_path: Path, keyring: Keyring
) -> None:
    live = tmp_path / "live"
    await (await _fill(live, "intake", 4)).close()
    folder, _ = bk.take_backup(bk.discover_stores(live), tmp_path / "out", keyring)
    target = tmp_path / "target"
    running = await _fill(target, "intake", 1)
    with pytest.raises(bk.BackupRefusedError, match="--replace"):
        bk.restore_backup(folder, target, keyring, replace=False)
    with pytest.raises(bk.BackupRefusedError, match="in use"):
        bk.restore_backup(folder, target, keyring, replace=True)
    await running.close()
    kept = bk.restore_backup(folder, target, keyring, replace=True)
    assert sqlite3.connect(kept["intake"]).execute("SELECT count(*) FROM documents").fetchone() == (
        1,
    )
    store = SqliteStore(bk.store_path(target, "intake"))
    await store.open()
    assert len(await store.find("families")) == 4
    await store.close()


def test_the_command_line_backs_up_verifies_and_restores(tmp_path: Path, keyring: Keyring) -> None:
    live = tmp_path / "live"
    asyncio.run(_close_filled(live))
    key = ["--key-file", str(tmp_path / "backup.keyring")]
    stack = ["--data-dir", str(live)]
    console = Console(width=200, record=True)

    def run(*args: str) -> int:
        return main([*stack, *args], console=console)

    assert run("backup", "--out", str(tmp_path / "out"), *key) == 0
    assert "intake" in console.export_text()
    (folder,) = (tmp_path / "out").iterdir()
    assert run("verify-backup", str(folder), *key) == 0
    assert run("restore", str(folder), *key) == 1
    assert "--replace" in console.export_text()
    assert run("restore", str(folder), *key, "--replace") == 0
    assert run("backup", "--out", str(tmp_path / "out")) == 1
    assert "--key-file" in console.export_text()


async def _close_filled(data_dir: Path) -> None:
    await (await _fill(data_dir, "intake", 2)).close()


async def test_a_family_erased_after_the_backup_stays_unreadable_once_it_is_restored(
    tmp_path: Path, keyring: Keyring
) -> None:
    data = tmp_path / "data"
    kek = Keyring((new_key(),))
    schema = {"families": SealedCollection(fields=("name",), family=FamilyIsId())}

    def intake() -> SealedStore:
        url = f"sqlite:///{bk.store_path(data, 'intake')}"
        inner = SqliteStore(bk.store_path(data, "intake"))
        return SealedStore(
            inner, keyring=kek, schema=schema, service="intake", ledger=ledger_for(url, inner)
        )

    live = intake()
    await live.open()
    for family_id, name in (("fam-erased", "Planted-Erased-Name"), ("fam-kept", "Kept")):
        async with live.transaction() as uow:
            await uow.insert("families", family_id, {"wijk": "zuilen", "name": name})
    await live.close()
    folder, _ = bk.take_backup(bk.discover_stores(data), tmp_path / "out", keyring)
    live = intake()
    await live.open()
    async with live.transaction() as uow:
        assert isinstance(uow, SealedUnitOfWork)
        await uow.destroy_family_key("fam-erased")  # what erasure does
    await live.close()

    bk.restore_backup(folder, data, keyring, replace=True)
    restored = intake()
    await restored.open()
    assert await restored.get("families", "fam-erased") is None
    kept = await restored.get("families", "fam-kept")
    assert kept is not None
    assert kept.data["name"] == "Kept"
    await restored.close()
    # The restored backup still holds the family's ciphertext, never its plaintext or key.
    stores = [p for p in data.rglob("*") if p.name.startswith("intake.sqlite3")]
    assert hits_in_files(stores, ["Planted-Erased-Name"]) == {}
