"""Kafka look-ups of the operator tool, with aiokafka (no consumer group)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient


async def list_topics(bootstrap: str) -> list[str]:
    """Every topic name on the cluster."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()
