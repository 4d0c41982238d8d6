"""Store contract, deletions (erasure): every backend must pass these unchanged."""

from __future__ import annotations

import pytest

from alamal_runtime.store import OutboxMessage, Record, Store

VISITS = "visits"


async def _seed(store: Store, docs: dict[str, dict[str, object]]) -> None:
    async with store.transaction() as uow:
        for doc_id, data in docs.items():
            await uow.insert(VISITS, doc_id, data)


async def test_delete_removes_one_document_and_says_whether_it_existed(store: Store) -> None:
    await _seed(store, {"v-1": {"family_id": "f-1"}, "v-2": {"family_id": "f-1"}})
    async with store.transaction() as uow:
        assert await uow.delete(VISITS, "v-1") is True
        assert await uow.get(VISITS, "v-1") is None  # the unit sees its own deletion
        assert await uow.delete(VISITS, "v-1") is False
        assert await uow.delete(VISITS, "never-there") is False
    assert await store.get(VISITS, "v-1") is None
    assert await store.get(VISITS, "v-2") == Record("v-2", 1, {"family_id": "f-1"})


async def test_a_deleted_id_can_be_inserted_again_at_version_one(store: Store) -> None:
    await _seed(store, {"v-1": {"n": 1}})
    async with store.transaction() as uow:
        await uow.replace(VISITS, "v-1", {"n": 2}, expected_version=1)
        await uow.delete(VISITS, "v-1")
        assert (await uow.insert(VISITS, "v-1", {"n": 3})).version == 1


async def test_delete_where_matches_like_find_and_counts(store: Store) -> None:
    await _seed(
        store,
        {
            "a": {"family_id": "f-1", "kind": "home"},
            "b": {"family_id": "f-1", "kind": "phone"},
            "c": {"family_id": "f-2", "kind": "home"},
            "d": {"family_id": None, "kind": "home"},
            "e": {"family_id": 1, "kind": "home"},
        },
    )
    async with store.transaction() as uow:
        assert await uow.delete_where(VISITS, {"family_id": "f-1", "kind": "home"}) == 1
        assert await uow.delete_where(VISITS, {"family_id": "f-1"}) == 1
        assert await uow.delete_where(VISITS, {"family_id": "f-1"}) == 0
        assert await uow.delete_where("no-such-collection", {"family_id": "f-1"}) == 0
    assert [r.id for r in await store.find(VISITS, order_by="id")] == ["c", "d", "e"]


async def test_delete_where_refuses_an_empty_filter_and_bad_fields(store: Store) -> None:
    await _seed(store, {"a": {"family_id": "f-1"}})
    async with store.transaction() as uow:
        with pytest.raises(ValueError, match="delete_all"):
            await uow.delete_where(VISITS, {})
        with pytest.raises(ValueError, match="field"):
            await uow.delete_where(VISITS, {"family_id') OR 1=1 --": "x"})
    assert await store.get(VISITS, "a") is not None


async def test_deletions_roll_back_with_their_unit(store: Store) -> None:
    await _seed(store, {"a": {"family_id": "f-1"}, "b": {"family_id": "f-1"}})

    async def failing() -> None:
        async with store.transaction() as uow:
            await uow.delete(VISITS, "a")
            await uow.delete_where(VISITS, {"family_id": "f-1"})
            raise LookupError

    with pytest.raises(LookupError):
        await failing()
    assert [r.id for r in await store.find(VISITS, order_by="id")] == ["a", "b"]


def _message(event_id: str, key: str) -> OutboxMessage:
    return OutboxMessage(id=event_id, topic="t.thing-happened.v1", key=key, value=b"{}")


async def test_delete_published_forgets_sent_messages_of_one_key_only(store: Store) -> None:
    async with store.transaction() as uow:
        for event_id, key in (("e-1", "f-1"), ("e-2", "f-2"), ("e-3", "f-1"), ("e-4", "f-1")):
            uow.emit(_message(event_id, key))
    pending = await store.outbox_pending()
    await store.outbox_mark_sent([r for r in pending if r.message.id in ("e-1", "e-2", "e-3")])
    async with store.transaction() as uow:
        assert await uow.delete_published("f-1") == 2
        assert await uow.delete_published("f-1") == 0
    # The unpublished message of the key still goes out; the other key's sent one is kept.
    assert [r.message.id for r in await store.outbox_pending()] == ["e-4"]
    async with store.transaction() as uow:
        assert await uow.delete_published("f-2") == 1
