"""Rebuilding never loses history: on a broker of its own, reporting projects a flow; the broker
is killed and started again empty (what the embedded default does after a crash when no producer
publishes again); a rebuild then refuses and drops nothing, reconcile reports what it cannot
check; once the producers' events are back on the topics the rebuild gives the same reports,
and reconcile repairs an entity the projection lost."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from alamal_reporting import ledger
from alamal_reporting.app import create_app
from alamal_reporting.domain.facts import CASES, COLLECTIONS, FAMILIES
from alamal_reporting.handlers import CONSUMED_TOPICS
from alamal_reporting.rebuild import IncompleteSourceError, rebuild
from alamal_reporting.reconcile import reconcile
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import Telemetry
from alamal_stack.tansu import TansuBroker, create_topics

from .conftest import Producer
from .flow import standard_flow

pytestmark = pytest.mark.integration

FLOW = standard_flow()


@pytest.fixture
async def tansu(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    async with TansuBroker(log_dir=tmp_path / "logs") as broker:
        await create_topics(broker.bootstrap, CONSUMED_TOPICS, 3)
        yield broker


async def _publish_flow(bootstrap: str) -> None:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await client.start()
    try:
        producer = Producer(client)
        for event_id, event in FLOW.events:
            await producer.publish(event_id, event)
        await producer.flush()
    finally:
        await client.stop()


async def _project(path: Path, bootstrap: str, public_pem: str) -> None:
    """Run reporting until its ledger holds the whole flow, then stop it."""
    settings = ReportingSettings(
        store_url=f"sqlite:///{path}",
        kafka_bootstrap=bootstrap,
        token_public_key=public_pem,
        profile="test",
        kafka_session_timeout_ms=1000,
        kafka_consumer_group=f"test-reporting-{uuid.uuid4().hex[:12]}",
        drain_seconds=0,
    )
    telemetry = Telemetry(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    app: FastAPI = create_app(settings, telemetry=telemetry)
    async with app.router.lifespan_context(app):
        store: Store = app.state.store
        async with asyncio.timeout(60):
            while True:
                if len(await ledger.entries(store)) >= len(FLOW.events):
                    return
                await asyncio.sleep(0.1)


async def _facts(store: Store) -> dict[str, dict[str, object]]:
    return {c: {r.id: r.data async for r in store.scan(c)} for c in COLLECTIONS}


async def test_a_rebuild_refuses_a_source_that_lost_history_and_reconcile_repairs(
    tansu: TansuBroker, tmp_path: Path, token_keys: tuple[str, str]
) -> None:
    path = tmp_path / "reporting.sqlite3"
    await _publish_flow(tansu.bootstrap)
    await _project(path, tansu.bootstrap, token_keys[1])

    pid = tansu.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await tansu.restart_async()  # a new incarnation: empty topics
    await create_topics(tansu.bootstrap, CONSUMED_TOPICS, 3)

    store = SqliteStore(path)
    await store.open()
    try:
        before = await _facts(store)
        with pytest.raises(IncompleteSourceError) as refused:
            await rebuild(store, tansu.bootstrap, stall_seconds=20)
        assert sum(refused.value.missing.values()) == len(FLOW.events)
        assert await _facts(store) == before, "a refused rebuild drops nothing"

        checked = await reconcile(store, tansu.bootstrap, repair=False, stall_seconds=20)
        assert sum(checked.not_in_source.values()) == len(FLOW.events)
        assert checked.consistent
        assert checked.only_here == sum(len(entities) for entities in before.values())

        await _publish_flow(tansu.bootstrap)  # as the producers' retained outboxes do
        result = await rebuild(store, tansu.bootstrap, stall_seconds=20)
        assert result.events == len(FLOW.events)
        assert await _facts(store) == before, "rebuilt from a complete source: the same facts"

        # The projection loses a family and a case (and their ledger entries): reconcile finds
        # and repairs exactly that.
        family_id = next(iter(before[FAMILIES]))
        case_id = next(iter(before[CASES]))
        lost = [
            e for e, entry in (await ledger.entries(store)).items() if entry.family_id == family_id
        ]
        async with store.transaction() as uow:
            await uow.delete(FAMILIES, family_id)
            await uow.delete(CASES, case_id)
            for event_id in lost:
                await uow.delete(ledger.LEDGER, event_id)
        found = await reconcile(store, tansu.bootstrap, repair=False, stall_seconds=20)
        assert (found.unmerged_events, found.differing_entities) == (len(lost), 2)
        assert not found.consistent
        repaired = await reconcile(store, tansu.bootstrap, stall_seconds=20)
        assert repaired.repaired
        assert await _facts(store) == before
        again = await reconcile(store, tansu.bootstrap, repair=False, stall_seconds=20)
        assert again.consistent
        assert again.not_in_source == {}
    finally:
        await store.close()
