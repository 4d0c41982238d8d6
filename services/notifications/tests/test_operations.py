"""Operating endpoints: secret rotation, manual resend, recover-since, disabling and enabling."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from alamal_notifications.receiver import Receiver, Reply
from alamal_notifications.store import ENDPOINTS
from alamal_notifications.testing import Admin, Producer, escalation, path
from alamal_runtime.store import Store


async def test_rotation_sends_both_signatures_during_the_overlap_only(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    old = endpoint["secret"]
    rotated = await client.post(
        f"/endpoints/{endpoint['id']}/rotate-secret",
        json={"overlap_seconds": 4},  # room for a delivery on a loaded machine
        headers=admin.headers,
    )
    assert rotated.status_code == 200, rotated.text
    rotated_at = time.monotonic()
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old

    await producer.send(escalation(partner))
    during = (await receiver.wait_for(hook, 2))[-1]
    assert during.verifies(old)
    assert during.verifies(new)
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    await asyncio.sleep(max(0.0, 4.1 - (time.monotonic() - rotated_at)))
    await producer.send(escalation(partner))
    after = (await receiver.wait_for(hook, 3))[-1]
    assert after.verifies(new)
    assert not after.verifies(old)
    shown = await client.get(f"/endpoints/{endpoint['id']}", headers=admin.headers)
    assert "secret" not in shown.json()
    assert shown.json()["secrets_active"] == 1


async def test_a_message_can_be_resent_with_the_same_id(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    await producer.send(escalation(partner))
    first = (await receiver.wait_for(hook, 2))[-1]
    await asyncio.sleep(0.2)
    [message] = (
        await client.get(f"/endpoints/{endpoint['id']}/messages", headers=admin.headers)
    ).json()
    assert message["state"] == "delivered"

    resent = await client.post(
        f"/endpoints/{endpoint['id']}/messages/{message['id']}/resend", headers=admin.headers
    )
    assert resent.status_code == 202, resent.text
    again = (await receiver.wait_for(hook, 3))[-1]
    assert again.webhook_id == first.webhook_id == message["id"]
    assert again.body == first.body
    assert again.verifies(endpoint["secret"])
    await asyncio.sleep(0.2)
    log = (await client.get(f"/endpoints/{endpoint['id']}/attempts", headers=admin.headers)).json()
    assert [a["trigger"] for a in log] == ["resend", "event", "verify"]
    unknown = await client.post(
        f"/endpoints/{endpoint['id']}/messages/msg_unknown/resend", headers=admin.headers
    )
    assert unknown.status_code == 404


async def test_recover_resends_the_failed_messages_since_a_time(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(hook, *[Reply(500)] * 10)
    await producer.send(escalation(partner))
    await receiver.wait_for(hook, 6)
    since = datetime.now(UTC)
    await producer.send(escalation(partner))
    await receiver.wait_for(hook, 11)
    await asyncio.sleep(0.3)
    failed = (
        await client.get(
            f"/endpoints/{endpoint['id']}/messages",
            params={"state": "failed"},
            headers=admin.headers,
        )
    ).json()
    assert len(failed) == 2
    older, newer = sorted(failed, key=lambda m: m["created_at"])
    overview = await client.get("/deliveries", headers=admin.headers)
    assert overview.status_code == 200
    assert {m["id"] for m in failed} <= {m["id"] for m in overview.json()}
    assert all(m["state"] == "failed" for m in overview.json())
    assert {m["endpoint_id"] for m in failed} == {endpoint["id"]}

    recovered = await client.post(
        f"/endpoints/{endpoint['id']}/recover",
        json={"since": since.isoformat()},
        headers=admin.headers,
    )
    assert recovered.status_code == 202, recovered.text
    assert recovered.json() == {"requeued": 1}
    got = (await receiver.wait_for(hook, 12))[-1]
    assert got.webhook_id == newer["id"]
    assert got.delivered
    await asyncio.sleep(0.5)
    assert len(receiver.at(hook)) == 12  # the older failure was not resent
    assert older["id"] not in {r.webhook_id for r in receiver.at(hook)[11:]}
    bad = await client.post(
        f"/endpoints/{endpoint['id']}/recover", json={"since": "yesterday"}, headers=admin.headers
    )
    assert bad.status_code == 422
    assert bad.json()["fields"] == ["since"]


async def test_a_disabled_endpoint_can_be_enabled_again(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    url = f"/endpoints/{endpoint['id']}"
    off = await client.patch(url, json={"enabled": False}, headers=admin.headers)
    assert off.json()["enabled"] is False
    assert off.json()["disabled_reason"] == "admin"
    await producer.send(escalation(partner))
    await asyncio.sleep(0.8)
    assert len(receiver.at(hook)) == 1
    on = await client.patch(url, json={"enabled": True}, headers=admin.headers)
    assert on.json()["enabled"] is True
    assert on.json()["disabled_reason"] is None
    await producer.send(escalation(partner))
    await receiver.wait_for(hook, 2)


async def test_secrets_are_encrypted_at_rest_and_excerpts_capped(
    admin: Admin,
    receiver: Receiver,
    producer: Producer,
    client: httpx.AsyncClient,
    notifications_app: FastAPI,
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    store: Store = notifications_app.state.store
    record = await store.get(ENDPOINTS, endpoint["id"])
    assert record is not None
    stored = json.dumps(record.data)
    assert endpoint["secret"] not in stored
    assert endpoint["secret"].removeprefix("whsec_") not in stored

    receiver.plan(hook, Reply(500, body=b"e" * 5000))
    await producer.send(escalation(partner))
    await receiver.wait_for(hook, 3)
    await asyncio.sleep(0.2)
    log = (await client.get(f"/endpoints/{endpoint['id']}/attempts", headers=admin.headers)).json()
    assert [len(a["response_excerpt"]) for a in reversed(log)] == [2, 256, 2]  # verify first
