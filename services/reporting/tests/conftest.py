"""Reporting test fixtures: the service in-process on the session broker, a plain producer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import Event
from alamal_reporting.app import create_app
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_runtime.telemetry import Telemetry

from .flow import at

type Mint = Callable[..., str]
type Headers = Callable[..., dict[str, str]]


class Producer:
    """Publishes contract events as their producer's relay would (CloudEvents, keyed by family)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, event_id: str, event: Event) -> None:
        """Publish one event under a given event id (the same id again is a redelivery)."""
        record = to_kafka(event, event_id=event_id, source="/alamal/test", time=at(1, 1))
        await self.raw(record.topic, record.value, record.key.encode(), list(record.headers))

    async def raw(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Publish any bytes (to show what the consumer does with bad records)."""
        await self._producer.send(topic, value=value, key=key, headers=headers)

    async def flush(self) -> None:
        """Wait until every sent record is acknowledged."""
        await self._producer.flush()


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
def metrics() -> InMemoryMetricReader:
    """Reads the service's metrics in tests."""
    return InMemoryMetricReader()


@pytest.fixture(scope="module")
def reporting_store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The store of the module's reporting service: its own SQLite file (a module may override
    this fixture to run the same tests on another backend)."""
    return f"sqlite:///{tmp_path_factory.mktemp('reporting')}/reporting.sqlite3"


@pytest.fixture(scope="module")
async def reporting_app(
    reporting_store_url: str,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    metrics: InMemoryMetricReader,
) -> AsyncIterator[FastAPI]:
    """Reporting running in-process (consumers, API) on the session broker; own store."""
    _, public_pem = token_keys
    settings = ReportingSettings(
        store_url=reporting_store_url,
        kafka_bootstrap=kafka_bootstrap,
        token_public_key=public_pem,
        profile="test",
        # Nine subscribers join one group one after the other; short sessions keep that quick.
        kafka_session_timeout_ms=1000,
        handler_retries=0,
        kafka_consumer_group=f"test-reporting-{uuid.uuid4().hex[:12]}",
    )
    telemetry = Telemetry(
        tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[metrics])
    )
    app = create_app(settings, telemetry=telemetry)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(reporting_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process reporting service."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=reporting_app),
        base_url="http://reporting.test",
        timeout=30,
    ) as http:
        yield http


@pytest.fixture(scope="module")
def reporting_store(reporting_app: FastAPI) -> Store:
    """The running service's own store."""
    store: Store = reporting_app.state.store
    return store


@pytest.fixture(scope="session")
def auth(mint: Mint) -> Headers:
    """Authorization headers: `auth(Role.COORDINATOR, wijken={"zuid"})`."""

    def _headers(role: Role, *, wijken: set[str] | None = None) -> dict[str, str]:
        token = mint(user_id=str(uuid.uuid4()), role=role, wijken=wijken or set())
        return {"Authorization": f"Bearer {token}"}

    return _headers
