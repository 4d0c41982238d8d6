"""One visit per device-made key and held visits on the MongoDB backend (a mongoeco server).

The key is claimed by inserting a `visit_keys` document in the visit's unit of work. On MongoDB
twin requests meet as a write conflict (overlapping units of work) or a duplicate id
(serialised): either way the loser runs again inside `with_transaction`, finds the key and
answers the first result. Run both ways.

The service's consumer meanwhile works through the session broker's backlog, so with overlapping
units of work the set-up (a case put in the store, a case closed) may lose a race too: it is
tried again until it commits (the visits under test retry inside the service).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from alamal_cases.app import create_app
from alamal_cases.domain import Case
from alamal_cases.settings import CasesSettings
from alamal_runtime.auth import Role
from alamal_runtime.sealing import SealedStore
from alamal_runtime.store import Store, TransientStoreError
from alamal_runtime.store.mongo import MongoStore
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.mongoeco_server import database_url

from .conftest import Caller, seed_case
from .test_offline_visits import device_key, offline_body, send, visits_on

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def committed[T](attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a set-up step again while it loses a race with the consumer (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await attempt()
        except TransientStoreError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def seeded(store: Store, holder: str) -> Case:
    """An open case of `holder`, put in the store."""
    return await committed(lambda: seed_case(store, holder=holder))


async def closed_by(http: httpx.AsyncClient, coordinator: Caller, case_id: str) -> None:
    """Close the case through the API (again after a 503 from a lost race)."""

    async def close() -> None:
        answer = await http.post(
            f"/cases/{case_id}/close",
            json={"outcome_codes": ["moved"]},
            headers=coordinator.headers,
        )
        if answer.status_code == 503:
            raise TransientStoreError(answer.text)
        assert answer.status_code == 200, answer.text

    await committed(close)


@pytest.fixture(params=[True, False], ids=["serialised", "overlapping"])
async def cases(
    request: pytest.FixtureRequest,
    mongoeco_uri: str,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    """Cases in-process on its own database of the session's mongoeco server."""
    database = f"alamal_cases_{uuid.uuid4().hex[:8]}"
    settings = CasesSettings(
        store_url=database_url(mongoeco_uri, database),
        kafka_bootstrap=kafka_bootstrap,
        token_public_key=token_keys[1],
        profile="test",
        data_dir=tmp_path,  # the dev KEK
        kafka_consumer_group=f"test-cases-mongo-{uuid.uuid4().hex[:12]}",
    )
    app = create_app(settings, telemetry=setup_telemetry("cases", set_global=False))
    sealed = app.state.store
    assert isinstance(sealed, SealedStore)
    inner = sealed.inner
    assert isinstance(inner, MongoStore)
    inner.serialize_writes = request.param
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cases.test", timeout=150
        ) as http,
    ):
        yield http, sealed
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongoeco_uri)
    await admin.drop_database(database)
    await admin.close()


async def test_twin_sends_of_one_key_make_one_visit_on_mongodb(
    cases: tuple[httpx.AsyncClient, Store], caller: Callable[..., Caller]
) -> None:
    http, store = cases
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seeded(store, trusted.user_id)
    key, body = device_key(), offline_body()

    answers = await asyncio.gather(*(send(http, trusted, case.id, body, key) for _ in range(4)))
    again = await send(http, trusted, case.id, body, key)

    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in [*answers, again]}) == 1
    assert again.headers["Idempotent-Replayed"] == "true"
    (stored,) = await visits_on(http, trusted, case.id)
    assert stored["private_note"] == body["private_note"]


async def test_an_offline_visit_for_a_closed_case_is_held_once_on_mongodb(
    cases: tuple[httpx.AsyncClient, Store], caller: Callable[..., Caller]
) -> None:
    http, store = cases
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seeded(store, trusted.user_id)
    await closed_by(http, coordinator, case.id)
    key, body = device_key(), offline_body()

    held = await asyncio.gather(*(send(http, trusted, case.id, body, key) for _ in range(3)))

    assert [h.status_code for h in held] == [202] * 3, [h.text for h in held]
    assert len({h.json()["id"] for h in held}) == 1
    assert held[0].json()["reason"] == "case-closed"
    inbox = await http.get("/held-visits", headers=coordinator.headers)
    assert inbox.status_code == 200, inbox.text
    assert [h["id"] for h in inbox.json() if h["case_id"] == case.id] == [held[0].json()["id"]]
    assert await visits_on(http, trusted, case.id) == []
