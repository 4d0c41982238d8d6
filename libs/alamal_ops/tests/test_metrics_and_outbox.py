"""Runtime metrics (lag, backlog, dead letters, request latency) and the operator endpoints."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from alamal_ops.services_api import OpsError, Signer, outbox_backlog
from alamal_runtime.auth import Role
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.metrics import CONSUMER_LAG, DEAD_LETTERS, OUTBOX_BACKLOG, consumer_lag

from .conftest import SERVICE, Probe, eventually

type Mint = Callable[..., str]


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    """Every data point of metric `name` in one collection."""
    data = reader.get_metrics_data()
    found: list[Any] = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


async def test_consumer_lag_is_end_offset_minus_committed(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = f"ops-lag-{uuid.uuid4().hex[:8]}.v1"
    group = f"test-ops-lag-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    for n in range(5):
        await producer.send_and_wait(topic, value=b"x", key=str(n).encode(), partition=0)
    committer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await committer.start()
    try:
        committer.assign([TopicPartition(topic, 0)])
        await committer.commit({TopicPartition(topic, 0): 2})
    finally:
        await committer.stop()

    [part] = await consumer_lag(kafka_bootstrap, group, [topic])
    assert (part.end_offset, part.committed, part.lag) == (5, 2, 3)
    [uncommitted] = await consumer_lag(kafka_bootstrap, f"{group}-none", [topic])
    assert (uncommitted.committed, uncommitted.lag) == (None, 5)


async def test_gauges_and_dead_letter_counter_reach_the_metric_reader(
    probe: Probe, producer: AIOKafkaProducer
) -> None:
    await producer.send_and_wait(probe.topic, value=b"not an event", key=b"k")

    async def dead_lettered() -> list[Any]:
        return [
            p
            for p in points(probe.reader, DEAD_LETTERS)
            if p.attributes.get("messaging.source.name") == probe.topic
            and p.attributes.get("alamal.dead_letter.reason") == "invalid_event"
        ]

    [counted] = await eventually(dead_lettered)
    assert counted.value >= 1

    async def lag_seen() -> list[Any]:
        return [
            p
            for p in points(probe.reader, CONSUMER_LAG)
            if p.attributes.get("topic") == probe.topic
        ]

    [lag] = await eventually(lag_seen)
    assert lag.attributes["messaging.consumer.group.name"] == probe.group
    assert lag.value >= 0
    [backlog] = await eventually(lambda: _async(points(probe.reader, OUTBOX_BACKLOG)))
    assert backlog.value == 0
    assert backlog.attributes == {"service.name": SERVICE}


async def _async(value: list[Any]) -> list[Any]:
    return value


async def test_request_latency_histogram_comes_from_the_fastapi_instrumentation(
    probe: Probe, client: httpx.AsyncClient, mint: Mint
) -> None:
    token = mint(user_id=str(uuid.uuid4()), role=Role.OPERATOR, audience=SERVICE)
    response = await client.get("/ops/outbox", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    await asyncio.sleep(0)
    data = probe.reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    latency = [n for n in names if n.startswith("http.server") and "duration" in n]
    assert latency, names


async def test_outbox_endpoint_is_for_operators_only(client: httpx.AsyncClient, mint: Mint) -> None:
    assert (await client.get("/ops/outbox")).status_code == 401
    for role in (Role.ADMIN, Role.COORDINATOR, Role.TRUSTED_PERSON, Role.FUNDER):
        token = mint(user_id=str(uuid.uuid4()), role=role, audience=SERVICE)
        response = await client.get("/ops/outbox", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, role
    token = mint(user_id=str(uuid.uuid4()), role=Role.OPERATOR, audience=SERVICE)
    response = await client.get("/ops/outbox", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"service": SERVICE, "backlog": 0}


async def test_ops_outbox_mints_an_operator_token_from_the_key_file(
    client: httpx.AsyncClient, token_keys: tuple[str, str], tmp_path: Path
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_text(token_keys[0], encoding="ascii")
    signer = Signer.load(str(key_file), str(uuid.uuid4()))
    result = await outbox_backlog(signer, {SERVICE: "http://opsprobe.test"}, client=client)
    assert result == {SERVICE: 0}
    wrong = Signer.load(str(key_file), None)
    assert await outbox_backlog(wrong, {"intake": "http://opsprobe.test"}, client=client) == {
        "intake": "HTTP 401"
    }, "a token for another audience is refused"


def test_signer_refuses_a_missing_key_and_a_bad_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALAMAL_OPS_SIGNING_KEY_FILE", raising=False)
    with pytest.raises(OpsError, match="signing-key-file"):
        Signer.load(None, None)
    with pytest.raises(OpsError, match="cannot read"):
        Signer.load(str(tmp_path / "missing.pem"), None)
    key = tmp_path / "k.pem"
    key.write_text("x", encoding="ascii")
    with pytest.raises(OpsError, match="UUID"):
        Signer.load(str(key), "alice")
