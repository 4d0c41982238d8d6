"""Explicit topic creation (Tansu auto-creates topics with 4 partitions that cannot grow)."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = structlog.get_logger(__name__)

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap: str, topics: Iterable[str], *, partitions: int = 3, replication: int = 1
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    wanted = sorted(set(topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            response = await admin.create_topics(
                [
                    NewTopic(name=t, num_partitions=partitions, replication_factor=replication)
                    for t in missing
                ]
            )
        except TopicAlreadyExistsError:
            return
        for name, code, *_ in getattr(response, "topic_errors", []):
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"creating topic {name} failed with Kafka error {code}")
        log.info("topics_created", topics=missing, partitions=partitions)
    finally:
        await admin.close()
