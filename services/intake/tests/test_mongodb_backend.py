"""Intake on the MongoDB backend over the wire (a mongoeco server), under concurrency.

mongoeco fails every transaction that overlaps a commit. With its units of work overlapping
(`serialize_writes=False`) that is harsher than a replica set, where only writes to the same
document conflict; the registrations must all still succeed, because a unit of work that loses
such a race is run again. Serialised (the default against mongoeco) they never conflict.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from alamal_intake.app import create_app
from alamal_intake.settings import IntakeSettings
from alamal_runtime.auth import Role
from alamal_runtime.sealing import SealedStore
from alamal_runtime.store.mongo import MongoStore
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.mongoeco_server import database_url

from .conftest import Caller, family_body

pytestmark = pytest.mark.integration


@pytest.fixture(params=[True, False], ids=["serialised", "overlapping"])
async def intake(
    request: pytest.FixtureRequest,
    mongoeco_uri: str,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, MongoStore]]:
    """Intake in-process on its own database of the session's mongoeco server."""
    database = f"alamal_intake_{uuid.uuid4().hex[:8]}"
    settings = IntakeSettings(
        store_url=database_url(mongoeco_uri, database),
        kafka_bootstrap=kafka_bootstrap,
        token_public_key=token_keys[1],
        profile="test",
        data_dir=tmp_path,  # the dev KEK
    )
    app = create_app(settings, telemetry=setup_telemetry("intake", set_global=False))
    sealed = app.state.store
    assert isinstance(sealed, SealedStore)  # names sealed on MongoDB too
    store = sealed.inner
    assert isinstance(store, MongoStore)
    store.serialize_writes = request.param
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake.test", timeout=60
        ) as http,
    ):
        yield http, store
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongoeco_uri)
    await admin.drop_database(database)
    await admin.close()


async def test_eight_concurrent_registrations_all_get_201(
    intake: tuple[httpx.AsyncClient, MongoStore], caller: Callable[..., Caller]
) -> None:
    http, store = intake
    staff = [caller(Role.TRUSTED_PERSON, wijken={"overvecht"}) for _ in range(8)]

    answers = await asyncio.gather(
        *(http.post("/families", json=family_body(), headers=s.headers) for s in staff)
    )

    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 8
    assert {r.id for r in await store.find("families", limit=100)} == ids
    # Every registration's event is in the outbox or already relayed: none lost, none twice.
    relayed_or_pending = await store.outbox_backlog() + store_relayed(http)
    assert relayed_or_pending == 8


def store_relayed(http: httpx.AsyncClient) -> int:
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    published: int = transport.app.state.runtime.relay.published  # type: ignore[attr-defined]
    return published
