"""Reporting on the MongoDB backend, over the wire protocol (a mongoeco server): the same flow
serves the same reports, a rebuild works, and a store error is a 503 with a reason code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from alamal_reporting.domain.facts import FAMILIES
from alamal_reporting.rebuild import rebuild
from alamal_runtime.auth import Role
from alamal_stack.mongoeco_server import database_url

from .test_service import PERIOD, published, served

# The module's service on mongoeco starts slowly on a loaded machine (over 120 s at load 35).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["published"]  # the flow-publishing fixture, shared with the SQLite module

type Headers = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def database() -> str:
    """This module's own database on the session's mongoeco server."""
    return f"alamal_reporting_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def reporting_store_url(mongoeco_uri: str, database: str) -> str:
    """Run reporting on MongoDB instead of SQLite."""
    return database_url(mongoeco_uri, database)


@pytest.fixture(scope="module")
def projection_seconds() -> float:
    """mongoeco answers slower than SQLite: every event is a unit of work over the wire."""
    return 150.0


@pytest.fixture
async def admin(mongoeco_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """A plain client of the server, to inject server-side failures."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongoeco_uri)
    try:
        yield client
    finally:
        await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await client.close()


async def test_the_flow_gives_the_same_reports_on_mongodb(
    reporting_app: FastAPI, client: httpx.AsyncClient, published: dict[str, Any], auth: Headers
) -> None:
    assert type(reporting_app.state.store).__name__ == "MongoStore"
    assert await served(client, auth(Role.FUNDER)) == published
    assert published["families/wijk"]["total"] == [13]


async def test_a_rebuild_on_mongodb_serves_the_same_reports(
    reporting_app: FastAPI,
    client: httpx.AsyncClient,
    published: dict[str, Any],
    kafka_bootstrap: str,
    auth: Headers,
) -> None:
    result = await rebuild(reporting_app.state.store, kafka_bootstrap)
    assert result.dropped > 0
    assert await served(client, auth(Role.FUNDER)) == published


async def test_a_store_error_is_a_503_with_a_reason_code_never_a_500(
    client: httpx.AsyncClient,
    published: dict[str, Any],
    admin: AsyncMongoClient[dict[str, Any]],
    database: str,
    auth: Headers,
) -> None:
    # MongoDB's own fault injection, on the server: the next read of the families fails.
    await admin.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {
                "failCommands": ["find"],
                "namespace": f"{database}.{FAMILIES}",
                "errorCode": 2,
                "errorMessage": "refused for Fatima",
            },
        }
    )
    params = {"breakdown": "wijk", **PERIOD}
    funder = auth(Role.FUNDER)
    failed = await client.get("/reports/families", params=params, headers=funder)
    assert failed.status_code == 503
    assert failed.json()["reason"] == "store_refused"
    assert "Fatima" not in failed.text
    again = await client.get("/reports/families", params=params, headers=funder)
    assert again.status_code == 200
    assert again.json()["total"] == published["families/wijk"]["total"]
