"""The mongoeco wire server helper used by the integration tests."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from alamal_stack.mongoeco_server import MongoecoServer

pytestmark = pytest.mark.integration


def test_the_server_answers_and_stops_cleanly() -> None:
    server = MongoecoServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.uri
    with server:
        assert server.start() == server.uri  # idempotent
        assert server.uri.startswith("mongodb://127.0.0.1:")
        client: MongoClient[dict[str, object]] = MongoClient(
            server.uri, serverSelectionTimeoutMS=2000
        )
        try:
            assert client.admin.command("ping")["ok"] == 1.0
        finally:
            client.close()
    server.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.uri
