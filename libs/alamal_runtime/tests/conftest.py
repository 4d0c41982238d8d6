"""Store fixtures: every contract test runs against SQLite, mongoeco's wire server and, when
`MONGODB_URL` is set, a real MongoDB (a replica set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from alamal_runtime.store import OutboxMessage, Store, create_store
from alamal_runtime.store.mongo import MongoStore
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.mongoeco_server import database_url

type StoreFactory = Callable[[], Store]
"""Builds an unopened store on the same file or database every time it is called."""

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mongo-wire", id="mongo-wire", marks=pytest.mark.integration),
    pytest.param("mongodb", id="mongodb", marks=pytest.mark.integration),
]
CONCURRENT_BACKENDS = [
    *BACKENDS,
    # mongoeco with overlapping transactions: every overlap conflicts (it detects conflicts
    # globally), so this is where the retries of transient conflicts are exercised.
    pytest.param(
        "mongo-wire-overlapping", id="mongo-wire-overlapping", marks=pytest.mark.integration
    ),
]


def _mongo_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend.startswith("mongo-wire"):
        uri: str = request.getfixturevalue("mongoeco_uri")
        return uri
    url = os.environ.get("MONGODB_URL")
    if not url:
        pytest.skip("set MONGODB_URL (a replica set) to run the contract against real MongoDB")
    return url


async def _factories(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    if backend == "sqlite":
        path = tmp_path / "store" / "service.sqlite3"
        yield lambda: SqliteStore(path)
        return
    url = _mongo_url(backend, request)
    # A fresh database per test: mongoeco slows down as collections grow.
    database = f"alamal_test_{uuid.uuid4().hex[:12]}"
    serialize = False if backend == "mongo-wire-overlapping" else None
    yield lambda: MongoStore(
        url, database, server_selection_timeout_ms=5000, serialize_writes=serialize
    )
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=5000
    )
    try:
        await client.drop_database(database)
    finally:
        await client.close()


@pytest.fixture(params=BACKENDS)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """A factory for one backend, on a fresh file or database per test."""
    async for factory in _factories(request.param, request, tmp_path):
        yield factory


@pytest.fixture(params=CONCURRENT_BACKENDS)
async def concurrent_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An open store on every backend, and on mongoeco with overlapping transactions too."""
    async for factory in _factories(request.param, request, tmp_path):
        opened = factory()
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    """An open store on a fresh file or database."""
    opened = store_factory()
    await opened.open()
    yield opened
    await opened.close()


type MessageFactory = Callable[[str], OutboxMessage]


def _message(event_id: str) -> OutboxMessage:
    return OutboxMessage(
        id=event_id,
        topic="test.thing-happened.v1",
        key="family-1",
        value=f'{{"id": "{event_id}"}}'.encode(),
        headers=(("ce_id", event_id.encode()), ("raw", b"\x00\xff")),
        trace_carrier={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )


@pytest.fixture
def make_message() -> MessageFactory:
    """Builds outbox messages with headers and a trace carrier, so every field round-trips."""
    return _message


@dataclass(frozen=True, slots=True)
class Backend:
    """A store another process can open: its URL, and whether mongoeco overlaps transactions."""

    name: str
    url: str
    overlapping: bool

    def open_store(self) -> Store:
        """An unopened store on the same file or database, as the other process opens it."""
        store = create_store(self.url, default_database="alamal_test")
        if isinstance(store, MongoStore) and self.overlapping:
            store.serialize_writes = False
        return store


@pytest.fixture(params=CONCURRENT_BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh file or database on every backend, named by URL (for child processes)."""
    name: str = request.param
    if name == "sqlite":
        yield Backend(name, f"sqlite:///{tmp_path / 'store' / 'service.sqlite3'}", False)
        return
    server = _mongo_url(name, request)
    database = f"alamal_test_{uuid.uuid4().hex[:12]}"
    yield Backend(name, database_url(server, database), name == "mongo-wire-overlapping")
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(server)
    try:
        await client.drop_database(database)
    finally:
        await client.close()
