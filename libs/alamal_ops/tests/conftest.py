"""A real in-process service (the runtime with one consumer) on the session's Tansu broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from alamal_contracts.codes import AgeBand, ConsentPurpose, IntakeSource, MemberRole, Project, Wijk
from alamal_contracts.envelope import CloudEvent, to_kafka
from alamal_contracts.events import ConsentFlag, FamilyRegistered, MemberCount
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.store import UnitOfWork
from alamal_runtime.telemetry import Telemetry

SERVICE = "opsprobe"


@dataclass
class Probe:
    """The running probe service and the knobs its handler obeys."""

    app: FastAPI
    runtime: ServiceRuntime
    reader: InMemoryMetricReader
    topic: str
    group: str
    failing: set[str] = field(default_factory=set)
    handled: list[str] = field(default_factory=list)


def family_record(event_id: str | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A valid `FamilyRegistered` record (value, key, headers) with a fresh event id."""
    event = FamilyRegistered(
        family_id=str(uuid.uuid4()),
        wijk=Wijk.OVERVECHT,
        projects=(Project.TUSSEN_IN,),
        member_counts=(MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1),),
        languages=("ar",),
        intake_source=IntakeSource.SCHOOL,
        trusted_person_id=str(uuid.uuid4()),
        consents=(ConsentFlag(purpose=ConsentPurpose.CARE, granted=True),),
        registered_at=datetime.now(UTC),
    )
    record = to_kafka(
        event,
        event_id=event_id or str(uuid.uuid4()),
        source="/alamal/intake",
        time=datetime.now(UTC),
    )
    return record.value, record.key.encode(), list(record.headers)


@pytest.fixture(scope="module")
async def probe(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[Probe]:
    """The probe service: consumes its own topic; events in `failing` raise in the handler."""
    _, public_pem = token_keys
    suffix = uuid.uuid4().hex[:10]
    group = f"test-ops-{suffix}"
    settings = ServiceSettings(
        service_name=SERVICE,
        store_url=f"sqlite:///{tmp_path_factory.mktemp('ops')}/probe.sqlite3",
        kafka_bootstrap=kafka_bootstrap,
        token_public_key=public_pem,
        profile="test",
        kafka_session_timeout_ms=3000,
        kafka_consumer_group=group,
        handler_retries=0,
        outbox_poll_seconds=0.2,
    )
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    runtime = ServiceRuntime(
        settings, service=SERVICE, telemetry=telemetry, metrics_interval_seconds=0.3
    )
    topic = f"opsprobe-src-{suffix}.things.v1"
    state = Probe(app=FastAPI(), runtime=runtime, reader=reader, topic=topic, group=group)

    async def handle(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        if event.id in state.failing:
            raise RuntimeError("planted failure")
        await uow.insert("seen", event.id, {"type": event.type})
        state.handled.append(event.id)

    runtime.consume(topic, handle)
    state.app = runtime.create_app(title="probe", routers=[])
    async with state.app.router.lifespan_context(state.app):
        yield state


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer on the session broker."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@pytest.fixture(scope="module")
async def client(probe: Probe) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client of the probe service."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=probe.app), base_url="http://opsprobe.test", timeout=10
    ) as http:
        yield http


async def eventually[T](
    probe_fn: Callable[[], Awaitable[T | None]], *, within: float = 20.0, every: float = 0.1
) -> T:
    """Poll until `probe_fn` returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await probe_fn()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within}s")
