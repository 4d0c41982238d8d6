"""Stopping drains: a producer publishes what it committed last and a consumer stopped at the
same moment still handles it, on a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import CaseOpened
from alamal_runtime.events import outbox_message
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.store import OutboxMessage, UnitOfWork
from alamal_runtime.telemetry import Telemetry

pytestmark = pytest.mark.integration

EVENTS = 200


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    provided = Telemetry(TracerProvider(), MeterProvider())
    yield provided
    provided.shutdown()


def _settings(
    tmp_path: Path, name: str, bootstrap: str, public_pem: str, **kw: Any
) -> ServiceSettings:
    return ServiceSettings(
        service_name=name,
        store_url=f"sqlite:///{tmp_path / name}.sqlite3",
        kafka_bootstrap=bootstrap,
        token_public_key=public_pem,
        profile="test",
        kafka_session_timeout_ms=3000,
        outbox_poll_seconds=5.0,
        **kw,
    )


def _message(topic: str) -> OutboxMessage:
    event = CaseOpened(
        family_id=str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        trusted_person_id=str(uuid.uuid4()),
        wijk=Wijk.OVERVECHT,
        opened_at=datetime.now(UTC),
    )
    return replace(outbox_message(event, source="/alamal/producer"), topic=topic)


@pytest.mark.parametrize(("drain_seconds", "all_handled"), [(20.0, True), (0.0, False)])
async def test_what_was_committed_last_is_published_and_consumed_before_stopping(
    tmp_path: Path,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    telemetry: Telemetry,
    drain_seconds: float,
    all_handled: bool,
) -> None:
    _, public_pem = token_keys
    topic = f"draintest-{uuid.uuid4().hex[:10]}.things.v1"
    common = {"drain_seconds": drain_seconds, "drain_quiet_seconds": 1.0}
    producer = ServiceRuntime(
        _settings(tmp_path, "producer", kafka_bootstrap, public_pem, **common),
        service="producer",
        publishes=[topic],
        telemetry=telemetry,
    )
    consumer = ServiceRuntime(
        _settings(
            tmp_path,
            "consumer",
            kafka_bootstrap,
            public_pem,
            kafka_consumer_group=f"draintest-{uuid.uuid4().hex[:10]}",
            **common,
        ),
        service="consumer",
        telemetry=telemetry,
    )

    async def handle(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        await uow.insert("seen", event.id, {"type": event.type})

    consumer.consume(topic, handle)
    await consumer.start()
    await producer.start()
    async with producer.store.transaction() as uow:
        for _ in range(EVENTS):
            uow.emit(_message(topic))
    # The runner stops every service at once: the producer's last commit and the consumer.
    await asyncio.gather(producer.stop(), consumer.stop())

    await producer.store.open()
    await consumer.store.open()
    try:
        assert await producer.store.outbox_backlog() == 0 or not all_handled
        handled = len(await consumer.store.find("seen", limit=EVENTS + 1))
    finally:
        await producer.store.close()
        await consumer.store.close()
    if all_handled:
        assert handled == EVENTS
    else:  # the control: stopping without a drain leaves events behind
        assert handled < EVENTS
