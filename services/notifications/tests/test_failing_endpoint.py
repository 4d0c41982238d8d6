"""An endpoint that keeps failing for the configured period is disabled, with an event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import EndpointDisabled
from alamal_contracts.topics import ENDPOINT_DISABLED
from alamal_notifications.receiver import Receiver, Reply
from alamal_notifications.testing import Admin, Producer, escalation, path
from alamal_stack.kafka_testing import read_topic_until


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    """Disable after 0.5 s of failures (the schedule itself runs ~1.5 s)."""
    return {"disable_after_failing_seconds": 0.5}


async def test_an_endpoint_failing_too_long_is_disabled(
    admin: Admin,
    receiver: Receiver,
    producer: Producer,
    client: httpx.AsyncClient,
    kafka_bootstrap: str,
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(hook, *[Reply(500)] * 20)
    for _ in range(2):
        await producer.send(escalation(partner))
    deadline = time.monotonic() + 10
    while (await client.get(f"/endpoints/{endpoint['id']}", headers=admin.headers)).json()[
        "enabled"
    ]:
        assert time.monotonic() < deadline, "endpoint never disabled"
        await asyncio.sleep(0.05)
    shown = (await client.get(f"/endpoints/{endpoint['id']}", headers=admin.headers)).json()
    assert shown["disabled_reason"] == "failing"
    records = await read_topic_until(
        kafka_bootstrap,
        ENDPOINT_DISABLED,
        lambda got: any(r.key == endpoint["id"].encode() for r in got),
    )
    [record] = [r for r in records if r.key == endpoint["id"].encode()]
    event = from_kafka(record.value, record.headers).data
    assert isinstance(event, EndpointDisabled)
    assert event.reason.value == "failing"
    await asyncio.sleep(0.3)
    states = (
        await client.get(f"/endpoints/{endpoint['id']}/messages", headers=admin.headers)
    ).json()
    assert {m["state"] for m in states} == {"failed"}  # none left pending on a disabled endpoint
    count = len(receiver.at(hook))
    await asyncio.sleep(0.5)
    assert len(receiver.at(hook)) == count
