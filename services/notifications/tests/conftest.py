"""Notifications test fixtures: the service in-process on the session broker, a real receiver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from openapi_spec_validator import validate as validate_spec

from alamal_notifications.receiver import Receiver
from alamal_notifications.settings import NotificationsSettings
from alamal_notifications.testing import (
    TEST_SETTINGS,
    Admin,
    Mint,
    Producer,
    PublishedContract,
    client_of,
    headers_for,
    running,
)
from alamal_runtime.auth import Role


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    """Per-module changes to TEST_SETTINGS (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def make_settings(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    settings_overrides: dict[str, Any],
) -> Callable[..., NotificationsSettings]:
    """Settings for one app: its own store file and folder unless `data_dir` is given."""

    def _make(data_dir: Path | None = None, **overrides: Any) -> NotificationsSettings:
        folder = data_dir or tmp_path_factory.mktemp("notifications")
        values: dict[str, Any] = {
            **TEST_SETTINGS,
            "store_url": f"sqlite:///{folder}/notifications.sqlite3",
            "data_dir": folder,
            "kafka_bootstrap": kafka_bootstrap,
            "token_public_key": token_keys[1],
            "kafka_consumer_group": f"test-notifications-{uuid.uuid4().hex[:12]}",
            **settings_overrides,
            **overrides,
        }
        return NotificationsSettings(**values)

    return _make


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(autouse=True)
def webhooks_follow_the_contract(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, every webhook the receiver got is checked against the published
    `webhooks` section (when the module runs the service)."""
    yield
    if "receiver" not in request.fixturenames or "contract" not in request.fixturenames:
        return
    receiver: Receiver = request.getfixturevalue("receiver")
    contract: PublishedContract = request.getfixturevalue("contract")
    for received in receiver.received:
        if received.body:
            contract.check_webhook(received.body)


@pytest.fixture(scope="module")
async def notifications_app(
    make_settings: Callable[..., NotificationsSettings], receiver: Receiver
) -> AsyncIterator[FastAPI]:
    """The service for one test module, in its own consumer group."""
    async with running(make_settings()) as app:
        yield app


@pytest.fixture(scope="module")
async def contract(notifications_app: FastAPI) -> PublishedContract:
    """The partner API's published document (`/partner/v1/openapi.json`), which is checked
    with openapi-spec-validator here."""
    async with client_of(notifications_app) as http:
        response = await http.get("/partner/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    validate_spec(document)  # type: ignore[arg-type]
    return PublishedContract(document)


@pytest.fixture(scope="module")
async def client(
    notifications_app: FastAPI, contract: PublishedContract
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the module's service; every partner API answer it gets is checked
    against the published document."""

    async def check(response: httpx.Response) -> None:
        if response.request.url.path.startswith("/partner/v1/referrals"):
            await response.aread()
            contract.check_answer(
                response.request.method,
                response.request.url.path,
                response.status_code,
                response.json(),
            )

    async with client_of(notifications_app) as http:
        http.event_hooks["response"].append(check)
        yield http


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[Producer]:
    """A plain aiokafka producer (Tansu has no idempotent producer)."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await client.start()
    try:
        yield Producer(client)
    finally:
        await client.stop()


@pytest.fixture(scope="module")
def admin(client: httpx.AsyncClient, mint: Mint) -> Admin:
    """An admin of the module's service."""
    return Admin(client=client, headers=headers_for(mint, Role.ADMIN))
