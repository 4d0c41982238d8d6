"""Transient errors retried as the driver documents, with failures injected by the server itself
(MongoDB's `configureFailPoint`, which mongoeco implements too): a unit of work that fails with
`TransientTransactionError` is run again from the start, within a time limit; a commit whose
outcome is unknown is committed again (real MongoDB only: mongoeco's wire server handles
`commitTransaction` outside its fail points); a stale version is never retried.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from alamal_runtime.store import OutboxMessage, StaleWriteError, TransientStoreError, UnitOfWork
from alamal_runtime.store.mongo import MongoStore

pytestmark = pytest.mark.integration

FAMILIES = "families"


@pytest.fixture(params=["mongo-wire", "mongodb"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A MongoDB server that takes fail points: mongoeco, or MONGODB_URL (test commands on)."""
    if request.param == "mongo-wire":
        url: str = request.getfixturevalue("mongoeco_uri")
    else:
        found = os.environ.get("MONGODB_URL")
        if not found:
            pytest.skip("set MONGODB_URL (a replica set with enableTestCommands) to run this")
        url = found
    yield url
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    finally:
        await client.close()


@pytest.fixture
async def store(server: str) -> AsyncIterator[MongoStore]:
    database = f"alamal_test_{uuid.uuid4().hex[:12]}"
    opened = MongoStore(server, database)
    await opened.open()
    yield opened
    await opened.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server)
    try:
        await client.drop_database(database)
    finally:
        await client.close()


async def fail(server: str, mode: object, data: dict[str, Any] | None = None) -> None:
    """Configure the server's `failCommand` fail point (`mode="off"` clears it)."""
    command: dict[str, Any] = {"configureFailPoint": "failCommand", "mode": mode}
    if data is not None:
        command["data"] = data
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server)
    try:
        await client.admin.command(command)
    finally:
        await client.close()


class Registration:
    """A unit of work that counts how often it ran."""

    def __init__(self, family_id: str) -> None:
        self.family_id = family_id
        self.runs = 0

    async def __call__(self, uow: UnitOfWork) -> None:
        self.runs += 1
        await uow.insert(FAMILIES, self.family_id, {"wijk": "overvecht"})
        uow.emit(OutboxMessage(id=f"e-{self.family_id}", topic="t", key=self.family_id, value=b""))


def transient_on_insert(store: MongoStore) -> dict[str, Any]:
    return {
        "failCommands": ["insert"],
        "namespace": f"{store.database}.{FAMILIES}",
        "errorCode": 112,  # WriteConflict
        "errorLabels": ["TransientTransactionError"],
    }


async def test_a_transient_error_re_runs_the_whole_unit_of_work(
    server: str, store: MongoStore
) -> None:
    await fail(server, {"times": 2}, transient_on_insert(store))
    registration = Registration("f-1")

    await store.with_transaction(registration)

    assert registration.runs == 3
    found = await store.get(FAMILIES, "f-1")
    assert found is not None
    assert found.version == 1
    assert [r.message.id for r in await store.outbox_pending()] == ["e-f-1"]


async def test_the_transaction_context_reports_a_transient_error_and_writes_nothing(
    server: str, store: MongoStore
) -> None:
    await fail(server, {"times": 1}, transient_on_insert(store))
    with pytest.raises(TransientStoreError):
        async with store.transaction() as uow:
            await Registration("f-1")(uow)
    assert await store.get(FAMILIES, "f-1") is None
    assert await store.outbox_backlog() == 0


async def test_retries_stop_at_the_time_limit(server: str, store: MongoStore) -> None:
    await fail(server, "alwaysOn", transient_on_insert(store))
    registration = Registration("f-1")
    started = time.monotonic()

    with pytest.raises(TransientStoreError):
        await store.with_transaction(registration, time_limit=0.5)

    assert 0.3 < time.monotonic() - started < 5
    assert registration.runs > 2
    await fail(server, "off")
    assert await store.get(FAMILIES, "f-1") is None


async def test_a_stale_version_is_a_conflict_and_is_not_retried(store: MongoStore) -> None:
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "overvecht"})
        await uow.replace(FAMILIES, "f-1", {"wijk": "zuilen"}, expected_version=1)
    runs = 0

    async def edit_read_at_version_1(uow: UnitOfWork) -> None:
        nonlocal runs
        runs += 1
        await uow.replace(FAMILIES, "f-1", {"wijk": "lombok"}, expected_version=1)

    with pytest.raises(StaleWriteError):
        await store.with_transaction(edit_read_at_version_1)
    assert runs == 1


async def test_a_commit_with_an_unknown_outcome_is_committed_again(
    server: str, store: MongoStore
) -> None:
    if server != os.environ.get("MONGODB_URL"):
        pytest.skip("mongoeco's wire server handles commitTransaction outside its fail points")
    # 91 ShutdownInProgress: the driver labels the failed commit UnknownTransactionCommitResult.
    await fail(server, {"times": 1}, {"failCommands": ["commitTransaction"], "errorCode": 91})
    registration = Registration("f-1")

    await store.with_transaction(registration)

    assert registration.runs == 1  # the commit was retried, the unit of work was not re-run
    assert await store.get(FAMILIES, "f-1") is not None
