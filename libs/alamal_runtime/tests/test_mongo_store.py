"""MongoDB specifics: refusing a standalone server, and an unreachable server."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from alamal_runtime.store import StoreUnavailableError
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
