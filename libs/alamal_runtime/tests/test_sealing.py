"""The sealed store: personal fields are ciphertext in the backend, plaintext through the store.

Runs on SQLite and on MongoDB's wire protocol (mongoeco): the layer sits on the Store
interface, so both backends must hold ciphertext only.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from alamal_runtime.crypto import (
    Keyring,
    KeyringError,
    encode_key,
    key_id,
    new_key,
    read_keyring,
    write_keyring,
)
from alamal_runtime.sealing import (
    DATA_KEYS,
    BlindIndexSpec,
    FamilyIsId,
    FamilyOfDocument,
    KeyDestroyedError,
    SealedCollection,
    SealedStore,
    SealedUnitOfWork,
    SealError,
    is_sealed,
)
from alamal_runtime.sealing.ledger import ShredLedger
from alamal_runtime.store import Doc, Store
from alamal_runtime.store.sqlite import SqliteStore

from .conftest import StoreFactory

PLANTED = ("Fatima Zahra", "Kanaalstraat 12", "sleeps badly since the eviction")


def _names(doc: Doc) -> list[str]:
    return [m["name"] for m in doc.get("members") or ()]


SCHEMA = {
    "families": SealedCollection(
        fields=("members", "address"),
        family=FamilyIsId(),
        index=BlindIndexSpec(field="name_index", texts=_names),
    ),
    "visits": SealedCollection(fields=("note",)),
    "cases": SealedCollection(fields=("summary",)),
    "strengths": SealedCollection(fields=("items",), family=FamilyOfDocument("cases")),
}


def _sealed(inner: Store, keyring: Keyring) -> SealedStore:
    return SealedStore(inner, keyring=keyring, schema=SCHEMA, service="test")


def _family(name: str = PLANTED[0]) -> Doc:
    return {"wijk": "overvecht", "members": [{"name": name}], "address": PLANTED[1]}


async def _insert(store: Store, collection: str, doc_id: str, data: Doc) -> None:
    async with store.transaction() as uow:
        await uow.insert(collection, doc_id, data)


def _raw_text(data: Doc) -> str:
    return json.dumps(data, ensure_ascii=False)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring((new_key(),))


async def test_personal_fields_are_ciphertext_in_the_backend_and_plaintext_through_the_store(
    store_factory: StoreFactory, keyring: Keyring
) -> None:
    store = _sealed(store_factory(), keyring)
    await store.open()
    try:
        async with store.transaction() as uow:
            await uow.insert("families", "fam-1", _family())
            await uow.insert("visits", "v-1", {"family_id": "fam-1", "note": PLANTED[2]})
        assert (await store.get("families", "fam-1")).data["address"] == PLANTED[1]  # type: ignore[union-attr]
        found = await store.find("visits", {"family_id": "fam-1"})
        assert [r.data["note"] for r in found] == [PLANTED[2]]
        for collection, doc_id in (("families", "fam-1"), ("visits", "v-1")):
            raw = await store.inner.get(collection, doc_id)
            assert raw is not None
            assert not [p for p in PLANTED if p in _raw_text(raw.data)]
        raw_family = await store.inner.get("families", "fam-1")
        assert raw_family is not None
        assert is_sealed(raw_family.data["members"])
        assert raw_family.data["wijk"] == "overvecht"  # what queries use stays plaintext
    finally:
        await store.close()


async def test_a_sealed_value_moved_to_another_document_or_field_does_not_open(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("visits", "v-1", {"family_id": "fam-1", "note": "first"})
        await uow.insert("visits", "v-2", {"family_id": "fam-1", "note": "second"})
        await uow.insert("cases", "c-1", {"family_id": "fam-1", "summary": "third"})
    v1 = await store.inner.get("visits", "v-1")
    v2 = await store.inner.get("visits", "v-2")
    assert v1 is not None
    assert v2 is not None
    async with store.inner.transaction() as raw:
        await raw.replace("visits", "v-2", v2.data | {"note": v1.data["note"]}, expected_version=1)
        case = await raw.get("cases", "c-1")
        assert case is not None
        await raw.replace(
            "cases", "c-1", case.data | {"summary": v1.data["note"]}, expected_version=1
        )
    with pytest.raises(SealError, match="does not open"):
        await store.get("visits", "v-2")
    with pytest.raises(SealError, match="does not open"):
        await store.get("cases", "c-1")
    assert (await store.get("visits", "v-1")).data["note"] == "first"  # type: ignore[union-attr]
    await store.close()


async def test_plaintext_planted_in_a_sealed_field_is_refused_not_served(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("visits", "v-1", {"family_id": "fam-1", "note": "sealed"})
    async with store.inner.transaction() as raw:
        await raw.insert("visits", "v-2", {"family_id": "fam-1", "note": "planted plaintext"})
    with pytest.raises(SealError, match="holds no sealed value"):
        await store.get("visits", "v-2")
    await store.close()


async def test_queries_and_indexes_on_sealed_fields_are_refused(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()
    with pytest.raises(ValueError, match="sealed"):
        await store.find("visits", {"note": "x"})
    with pytest.raises(ValueError, match="sealed"):
        await store.find("visits", order_by="note")
    with pytest.raises(ValueError, match="sealed"):
        await store.ensure_index("families", ["address"])
    await store.close()


async def test_a_store_does_not_open_with_another_kek_and_says_which_key_it_needs(
    tmp_path: Path, keyring: Keyring
) -> None:
    path = tmp_path / "s.sqlite3"
    store = _sealed(SqliteStore(path), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("families", "fam-1", _family())
    await store.close()
    other = new_key()
    wrong = SealedStore(
        SqliteStore(path),
        keyring=Keyring((other,)),
        schema=SCHEMA,
        service="test",
        keyring_source="INTAKE_KEK_FILE (/run/secrets/kek)",
    )
    with pytest.raises(KeyringError) as refused:
        await wrong.open()
    message = str(refused.value)
    assert keyring.primary_id in message
    assert key_id(other) in message
    assert "INTAKE_KEK_FILE" in message
    assert encode_key(other) not in message
    assert encode_key(keyring.keys[0]) not in message
    await wrong.close()


async def test_rotation_rewraps_every_key_so_the_old_kek_can_be_dropped(
    store_factory: StoreFactory, keyring: Keyring
) -> None:
    store = _sealed(store_factory(), keyring)
    await store.open()
    families = [f"fam-{i}" for i in range(5)]
    async with store.transaction() as uow:
        for family_id in families:
            await uow.insert("families", family_id, _family(f"Name {family_id}"))
    await store.close()

    rotated = Keyring((new_key(), *keyring.keys))
    during = _sealed(store_factory(), rotated)
    await during.open()  # old KEK still accepted: no downtime while re-wrapping
    assert (await during.get("families", "fam-3")).data["members"] == [{"name": "Name fam-3"}]  # type: ignore[union-attr]
    assert await during.vault.rewrap() == {keyring.primary_id: 5}
    assert await during.vault.count_by_kek() == {rotated.primary_id: 5, keyring.primary_id: 0}
    await during.close()

    after = _sealed(store_factory(), Keyring((rotated.keys[0],)))
    await after.open()
    for family_id in families:
        record = await after.get("families", family_id)
        assert record is not None
        assert record.data["members"] == [{"name": f"Name {family_id}"}]
    await after.close()


async def test_a_destroyed_family_key_makes_only_that_family_unreadable(
    tmp_path: Path, keyring: Keyring
) -> None:
    path = tmp_path / "s.sqlite3"
    store = _sealed(SqliteStore(path), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("families", "fam-1", _family("Erased"))
        await uow.insert("families", "fam-2", _family("Kept"))
    async with store.transaction() as uow:
        assert isinstance(uow, SealedUnitOfWork)
        assert await uow.destroy_family_key("fam-1")
    # Erased: it reads as gone, in lists too, and nothing new can be sealed for it.
    assert await store.get("families", "fam-1") is None
    assert [r.id for r in await store.find("families", {"wijk": "overvecht"})] == ["fam-2"]
    with pytest.raises(KeyDestroyedError):
        await _insert(store, "visits", "v-late", {"family_id": "fam-1", "note": "late"})
    tombstone = await store.inner.get(DATA_KEYS, "fam-1")
    assert tombstone is not None
    assert set(tombstone.data) == {"destroyed_at"}
    await store.close()
    # A fresh process (empty key cache) cannot read it either; the other family is intact.
    reopened = _sealed(SqliteStore(path), keyring)
    await reopened.open()
    assert await reopened.get("families", "fam-1") is None
    raw = await reopened.inner.get("families", "fam-1")
    assert raw is not None
    with pytest.raises(KeyDestroyedError):
        await reopened.unseal("families", raw)
    kept = await reopened.get("families", "fam-2")
    assert kept is not None
    assert kept.data["members"] == [{"name": "Kept"}]
    await reopened.close()


async def test_a_key_made_in_a_rolled_back_unit_is_not_kept(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()

    async def fail_after_insert() -> None:
        async with store.transaction() as uow:
            await uow.insert("visits", "v-1", {"family_id": "fam-9", "note": "gone"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_after_insert()
    assert await store.inner.get(DATA_KEYS, "fam-9") is None
    async with store.transaction() as uow:
        await uow.insert("visits", "v-2", {"family_id": "fam-9", "note": "kept"})
    await store.close()
    reopened = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await reopened.open()
    assert (await reopened.get("visits", "v-2")).data["note"] == "kept"  # type: ignore[union-attr]
    await reopened.close()


async def test_a_document_keyed_by_its_case_is_sealed_with_the_case_familys_key(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("cases", "case-1", {"family_id": "fam-1", "summary": "s"})
        await uow.insert("strengths", "case-1", {"items": ["cooks for the street"]})
        with pytest.raises(SealError, match="no family id"):
            await uow.insert("strengths", "case-unknown", {"items": ["x"]})
    assert (await store.get("strengths", "case-1")).data["items"] == ["cooks for the street"]  # type: ignore[union-attr]
    async with store.transaction() as uow:
        assert isinstance(uow, SealedUnitOfWork)
        await uow.destroy_family_key("fam-1")
    assert await store.get("strengths", "case-1") is None
    await store.close()


async def test_plaintext_stored_before_sealing_is_sealed_once_at_start_up(
    tmp_path: Path, keyring: Keyring
) -> None:
    path = tmp_path / "s.sqlite3"
    legacy = SqliteStore(path)
    await legacy.open()
    async with legacy.transaction() as uow:
        await uow.insert("families", "fam-1", _family())
        await uow.insert("visits", "v-1", {"family_id": "fam-1", "note": PLANTED[2]})
    await legacy.close()

    store = _sealed(SqliteStore(path), keyring)
    await store.open()
    for collection, doc_id in (("families", "fam-1"), ("visits", "v-1")):
        raw = await store.inner.get(collection, doc_id)
        assert raw is not None
        assert not [p for p in PLANTED if p in _raw_text(raw.data)]
    family = await store.get("families", "fam-1")
    assert family is not None
    assert family.data["address"] == PLANTED[1]
    assert store.index.query("zahra") <= set(family.data["name_index"])
    await store.close()
    # The second start finds nothing left to seal and does not scan again.
    again = _sealed(SqliteStore(path), keyring)
    await again.open()
    assert (await again.get("visits", "v-1")).data["note"] == PLANTED[2]  # type: ignore[union-attr]
    await again.close()


async def test_the_blind_index_holds_no_name_and_narrows_by_fragment(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("families", "fam-1", _family("Özdemir"))
        await uow.insert("families", "fam-2", _family("Bakker"))
    raw = {r.id: r.data for r in await store.find_sealed("families", {"wijk": "overvecht"})}
    tokens = raw["fam-1"]["name_index"]
    assert all(len(t) == 8 and "zd" not in t for t in tokens)
    assert store.index.query("ozdem") <= set(tokens)
    assert not store.index.query("ozdem") <= set(raw["fam-2"]["name_index"])
    assert store.index.query("AKK") <= set(raw["fam-2"]["name_index"])
    # Another key gives other tokens: the index is useless without the service's index key.
    other = _sealed(SqliteStore(tmp_path / "other.sqlite3"), keyring)
    await other.open()
    assert other.index.query("ozdem") != store.index.query("ozdem")
    await other.close()
    await store.close()


async def test_another_instance_picks_up_a_rotated_kek_from_the_keyring_file(
    tmp_path: Path, keyring: Keyring
) -> None:
    path, ring_file = tmp_path / "s.sqlite3", tmp_path / "kek.keyring"
    write_keyring(ring_file, keyring)

    def replica() -> SealedStore:
        return SealedStore(
            SqliteStore(path),
            keyring=read_keyring(ring_file, source="f"),
            schema=SCHEMA,
            service="test",
            reload_keyring=lambda: read_keyring(ring_file, source="f"),
        )

    first, second = replica(), replica()
    await first.open()
    await second.open()
    async with first.transaction() as uow:
        await uow.insert("families", "fam-1", _family("Before rotation"))
    write_keyring(ring_file, Keyring((new_key(), *keyring.keys)))
    second.use_keyring(read_keyring(ring_file, source="f"))
    assert await second.vault.rewrap() == {keyring.primary_id: 1}
    write_keyring(ring_file, Keyring((read_keyring(ring_file, source="f").keys[0],)))
    # A replica started before the rotation (old KEK only, nothing cached) re-reads the file.
    third = replica()
    third.vault.use_keyring(keyring)
    await third.inner.open()
    record = await third.get("families", "fam-1")
    assert record is not None
    assert record.data["members"] == [{"name": "Before rotation"}]
    for store in (first, second, third):
        await store.close()


async def test_deletes_go_through_and_a_delete_by_a_sealed_field_is_refused(
    tmp_path: Path, keyring: Keyring
) -> None:
    store = _sealed(SqliteStore(tmp_path / "s.sqlite3"), keyring)
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("visits", "v-1", {"family_id": "fam-1", "note": "one"})
        await uow.insert("visits", "v-2", {"family_id": "fam-1", "note": "two"})
        await uow.insert("families", "fam-1", _family())
    async with store.transaction() as uow:
        with pytest.raises(ValueError, match="sealed"):
            await uow.delete_where("visits", {"note": "one"})
        assert await uow.delete_where("visits", {"family_id": "fam-1"}) == 2
        assert await uow.delete("families", "fam-1")
    assert await store.find("visits", {"family_id": "fam-1"}) == []
    assert await store.get("families", "fam-1") is None
    await store.close()


async def test_a_restored_copy_cannot_read_a_family_erased_after_it_was_taken(
    tmp_path: Path, keyring: Keyring
) -> None:
    path = tmp_path / "s.sqlite3"

    def opened() -> SealedStore:
        ledger = ShredLedger(SqliteStore(tmp_path / "s.shredded.sqlite3"))
        return SealedStore(
            SqliteStore(path), keyring=keyring, schema=SCHEMA, service="test", ledger=ledger
        )

    store = opened()
    await store.open()
    async with store.transaction() as uow:
        await uow.insert("families", "fam-1", _family("Erased later"))
        await uow.insert("families", "fam-2", _family("Kept"))
        await uow.insert("visits", "v-1", {"family_id": "fam-1", "note": "a note"})
    copy = tmp_path / "backup.sqlite3"
    with sqlite3.connect(path) as live, sqlite3.connect(copy) as backup:
        live.backup(backup)
    async with store.transaction() as uow:
        assert isinstance(uow, SealedUnitOfWork)
        await uow.destroy_family_key("fam-1")
    await store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - a test's set-up
    copy.rename(path)  # the backup, restored

    restored = opened()
    await restored.open()
    assert await restored.get("families", "fam-1") is None
    assert await restored.find("visits", {"family_id": "fam-1"}) == []
    assert [r.id for r in await restored.find("families", {"wijk": "overvecht"})] == ["fam-2"]
    key = await restored.inner.get(DATA_KEYS, "fam-1")
    assert key is not None
    assert set(key.data) == {"destroyed_at"}
    await restored.close()
