"""MongoDB specifics: refusing a standalone server, and an unreachable server."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from alamal_runtime.store import OutboxMessage, StoreUnavailableError
from alamal_runtime.store import _mongo_codec as codec
from alamal_runtime.store.mongo import MongoStore


@pytest.mark.parametrize(
    ("hello", "supported"),
    [
        ({"isWritablePrimary": True, "setName": "rs0"}, True),
        ({"isWritablePrimary": True, "msg": "isdbgrid"}, True),
        ({"isWritablePrimary": True, "gitVersion": "mongoeco"}, True),
        ({"isWritablePrimary": True}, False),
        (
            {"isWritablePrimary": True, "gitVersion": "3ff3e8f28bc5d9ee8a0e35bd4b2da1b06fb83d2c"},
            False,
        ),
    ],
)
def test_transactions_are_supported_on_replica_sets_mongos_and_mongoeco(
    hello: dict[str, Any], supported: bool
) -> None:
    assert codec.transactions_supported(hello) is supported


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_server_is_unavailable() -> None:
    url = f"mongodb://127.0.0.1:{_closed_port()}/alamal_test?directConnection=true"
    store = MongoStore(url, server_selection_timeout_ms=200)
    with pytest.raises(StoreUnavailableError):
        await store.open()
    with pytest.raises(StoreUnavailableError):
        await store.ping()


@pytest.mark.integration
async def test_a_standalone_server_is_refused(
    mongoeco_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alamal_runtime.store.mongo as mongo_module

    monkeypatch.setattr(mongo_module, "transactions_supported", lambda _: False)
    store = MongoStore(mongoeco_uri, f"alamal_test_{uuid.uuid4().hex[:12]}")
    with pytest.raises(StoreUnavailableError, match="replica set"):
        await store.open()


@pytest.mark.integration
async def test_mongoeco_is_accepted_and_open_is_idempotent(mongoeco_uri: str) -> None:
    store = MongoStore(mongoeco_uri, f"alamal_test_{uuid.uuid4().hex[:12]}")
    await store.open()
    await store.open()
    await store.ping()
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailableError):
        await store.ping()


@pytest.mark.integration
async def test_an_outbox_numbered_by_the_retired_counter_keeps_its_order_per_key(
    mongoeco_uri: str,
) -> None:
    database = f"alamal_test_{uuid.uuid4().hex[:12]}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongoeco_uri, tz_aware=True)
    old = client[database]
    # As the service-wide counter left it: seqs 1..4 over two keys, 1 sent, and its indexes.
    await old["_outbox"].create_index([("seq", 1)], unique=True, name="seq")
    await old["_outbox"].create_index([("sent_at", 1), ("seq", 1)], name="pending")
    for seq, key, sent in [(1, "a", True), (2, "b", False), (3, "a", False), (4, "b", False)]:
        await old["_outbox"].insert_one(
            {
                "_id": f"old-{seq}",
                "seq": seq,
                "topic": "t",
                "key": key,
                "value": b"",
                "headers": [],
                "trace_carrier": {},
                "created_at": datetime.now(UTC),
                "sent_at": datetime.now(UTC) if sent else None,
            }
        )
    await old["_counters"].insert_one({"_id": "outbox", "seq": 4})
    store = MongoStore(mongoeco_uri, database)
    try:
        await store.open()
        async with store.transaction() as uow:
            uow.emit(OutboxMessage(id="new-a", topic="t", key="a", value=b""))
            uow.emit(OutboxMessage(id="new-b", topic="t", key="b", value=b""))
        pending = await store.outbox_pending()
        by_key = {
            key: [(r.message.id, r.seq) for r in pending if r.message.key == key]
            for key in ("a", "b")
        }
        assert by_key == {
            "a": [("old-3", 3), ("new-a", 4)],
            "b": [("old-2", 2), ("old-4", 4), ("new-b", 5)],
        }
        assert await old["_counters"].find_one({"_id": "outbox"}) is None
        indexes = await old["_outbox"].index_information()
        assert "seq" not in indexes
        assert "key_seq" in indexes
        await store.close()
        await store.open()  # idempotent: nothing left to carry over
        assert len(await store.outbox_pending()) == 5
    finally:
        await store.close()
        await client.drop_database(database)
        await client.close()
