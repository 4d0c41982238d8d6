"""End-to-end fixtures: the whole embedded stack, started as a user would start it."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from alamal_notifications.receiver import Receiver
from alamal_runtime.auth import Role, mint_token
from alamal_stack.runner import EmbeddedStack
from tests.e2e.queries import start_profiling


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The module's stack starts inside its first test's time limit: allow for mongoeco, which
    starts a server per service and answers slower than SQLite."""
    for item in items:
        if "tests/e2e/" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(300))


STORES = [
    pytest.param("sqlite", id="sqlite"),
    # Every service on the MongoDB backend over the wire: a mongoeco server per service.
    pytest.param("mongodb", id="mongodb"),
]


@pytest.fixture(scope="module", params=STORES)
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EmbeddedStack]:
    """The embedded stack on free ports with its own data folder, for one test module, on
    each store backend in turn (the module's tests run on SQLite, then on MongoDB)."""
    data = tmp_path_factory.mktemp(f"stack-{request.param}")
    # With MONGODB_URL (a replica set) the MongoDB run uses it, in databases of its own.
    url = os.environ.get("MONGODB_URL") if request.param == "mongodb" else None
    prefix = f"e2e_{uuid.uuid4().hex[:8]}_"
    async with EmbeddedStack(
        data,
        base_port=0,
        ready_timeout=120,
        store=request.param,
        mongodb_url=url,
        mongodb_database_prefix=prefix,
    ) as running:
        for store_url in running.store_urls.values():
            await start_profiling(store_url)  # tests/e2e/queries.py reads it back
        yield running
    if url is not None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        for name in await client.list_database_names():
            if name.startswith(prefix):
                await client.drop_database(name)
        await client.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The partner's webhook receiver on 127.0.0.1."""
    running = Receiver()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def token(stack: EmbeddedStack, *, user_id: str, role: Role, wijken: set[str]) -> str:
    """A service token signed with the stack's dev key."""
    private = Path(stack.keys.signing).read_text(encoding="ascii")
    return mint_token(private, user_id=user_id, role=role, wijken=wijken)


def family_body(trusted_person_id: str, *, wijk: str = "overvecht") -> dict[str, Any]:
    """A valid registration with planted personal values that must never leave intake."""
    return {
        "members": [
            {
                "role": "mother",
                "birth_year": 1984,
                "first_name": "Fatima",
                "surname": "El Amrani",
                "languages": ["ar", "nl"],
            },
            {"role": "child", "birth_year": 2016, "first_name": "Yasmine"},
        ],
        "wijk": wijk,
        "languages": ["ar", "nl"],
        "intake_source": "school",
        "trusted_person_id": trusted_person_id,
        "consents": [
            {"purpose": "care", "granted": True},
            {"purpose": "reporting", "granted": True},
        ],
    }


class Staff:
    """A trusted person calling the services over HTTP with her own token."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.user_id = str(uuid.uuid4())
        self.headers = {
            "Authorization": "Bearer "
            + token(stack, user_id=self.user_id, role=Role.TRUSTED_PERSON, wijken={"overvecht"})
        }
        self.stack = stack

    async def register(self, client: httpx.AsyncClient) -> str:
        """Register a family at intake; return its id."""
        response = await client.post(
            f"{self.stack.urls['intake']}/families",
            json=family_body(self.user_id),
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        family_id: str = response.json()["id"]
        return family_id

    async def cases(self, client: httpx.AsyncClient, family_id: str) -> list[dict[str, Any]]:
        """The family's cases as the cases service shows them to her."""
        response = await client.get(
            f"{self.stack.urls['cases']}/cases",
            params={"family_id": family_id},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        cases: list[dict[str, Any]] = response.json()
        return cases


def _scalars(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [s for v in data.values() for s in _scalars(v)]
    if isinstance(data, list):
        return [s for v in data for s in _scalars(v)]
    return [data]


def leaked(planted: tuple[str, ...], value: bytes, headers: list[tuple[str, bytes]]) -> list[str]:
    """The planted values found in an event: text as substrings anywhere; a number (a birth
    year) as any JSON or header value equal to it, because as digits it also occurs inside
    random ids and timestamps."""
    text = value.decode() + repr(headers)
    scalars = [str(s) for s in _scalars(json.loads(value))] + [v.decode() for _, v in headers]
    return [p for p in planted if (p in scalars if p.isdigit() else p in text)]
