"""A restart mid-schedule loses no pending delivery and never resends a delivered one."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from alamal_notifications.receiver import Receiver, Reply
from alamal_notifications.settings import NotificationsSettings
from alamal_notifications.testing import (
    Admin,
    Mint,
    Producer,
    client_of,
    escalation,
    headers_for,
    path,
    running,
)
from alamal_runtime.auth import Role


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    """Retries 0.6 s apart, so the restart falls between two attempts."""
    return {"retry_schedule_seconds": (0.6, 0.6, 0.6, 0.6)}


async def test_restart_mid_schedule_loses_nothing_and_doubles_nothing(
    make_settings: Callable[..., NotificationsSettings],
    receiver: Receiver,
    producer: Producer,
    mint: Mint,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("restart")
    hook = path()
    async with running(make_settings(data_dir=folder)) as first, client_of(first) as client:
        admin = Admin(client=client, headers=headers_for(mint, Role.ADMIN))
        partner = await admin.partner()
        endpoint = await admin.endpoint(partner, receiver.url(hook))
        await producer.send(escalation(partner))
        delivered = (await receiver.wait_for(hook, 2))[-1]
        receiver.plan(hook, Reply(500), Reply(500))
        await producer.send(escalation(partner))
        await receiver.wait_for(hook, 4)  # two failed attempts; the third is scheduled
        await asyncio.sleep(0.1)
    stopped_with = len(receiver.at(hook))
    await asyncio.sleep(0.8)  # the retry falls due while the service is down
    assert len(receiver.at(hook)) == stopped_with

    async with running(make_settings(data_dir=folder)) as second, client_of(second) as client:
        got = await receiver.wait_for(hook, 5, within=15)
        await asyncio.sleep(1.0)  # time for anything wrongly resent to show up
        pending = got[3]
        assert got[-1].webhook_id == pending.webhook_id
        assert got[-1].delivered
        assert got[-1].verifies(endpoint["secret"])  # the key survived the restart too
        admin = Admin(client=client, headers=headers_for(mint, Role.ADMIN))
        states = (
            await client.get(f"/endpoints/{endpoint['id']}/messages", headers=admin.headers)
        ).json()
    requests = receiver.at(hook)[1:]
    assert len(requests) == 4
    answered_2xx = Counter(r.webhook_id for r in requests if r.delivered)
    assert answered_2xx == {delivered.webhook_id: 1, pending.webhook_id: 1}
    assert sorted(m["state"] for m in states) == ["delivered", "delivered"]
