"""Explicit topic creation on the real embedded broker (Tansu auto-creates with 4 partitions)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from alamal_runtime.messaging.topics import ensure_topics

pytestmark = pytest.mark.integration


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described: list[dict[str, Any]] = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {topic["topic"]: len(topic["partitions"]) for topic in described}


async def test_missing_topics_are_created_with_the_requested_partitions(
    kafka_bootstrap: str,
) -> None:
    suffix = uuid.uuid4().hex[:12]
    topics = [f"test.first-{suffix}.v1", f"test.second-{suffix}.v1"]

    await ensure_topics(kafka_bootstrap, [*topics, topics[0]], partitions=2)

    assert await partition_counts(kafka_bootstrap, topics) == dict.fromkeys(topics, 2)


async def test_existing_topics_are_left_as_they_are(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    existing, new = f"test.existing-{suffix}.v1", f"test.new-{suffix}.v1"
    await ensure_topics(kafka_bootstrap, [existing], partitions=1)

    # Idempotent at every start-up: a second call with other settings changes nothing.
    await ensure_topics(kafka_bootstrap, [existing, new], partitions=3)
    await ensure_topics(kafka_bootstrap, [existing, new], partitions=3)

    assert await partition_counts(kafka_bootstrap, [existing, new]) == {existing: 1, new: 3}
