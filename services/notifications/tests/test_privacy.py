"""Notifications' part of a family's AVG rights on the real broker, SQLite and a real receiver:
the export, and the erasure (the partner told by a signed webhook, 410 Gone on the partner API,
deliveries deleted but counted, confirmed once)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from alamal_contracts.codes import ReferralStatus
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import (
    FamilyErasureRequested,
    NotificationsFamilyErased,
    ReferralUpdated,
)
from alamal_contracts.topics import NOTIFICATIONS_FAMILY_ERASED
from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.partner_contract import WEBHOOK_MODELS
from alamal_notifications.privacy import ERASED_COUNTS, ERASURE_REQUESTED
from alamal_notifications.receiver import Receiver
from alamal_notifications.testing import Admin, Mint, Producer, escalation, headers_for, path
from alamal_runtime.auth import Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

pytestmark = pytest.mark.integration


async def eventually(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """Poll `read()` until `done` holds; fail after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r}")
        await asyncio.sleep(0.05)


async def test_export_then_erasure_tells_the_partner_and_answers_410(
    admin: Admin,
    client: httpx.AsyncClient,
    producer: Producer,
    receiver: Receiver,
    mint: Mint,
    notifications_app: FastAPI,
    kafka_bootstrap: str,
) -> None:
    store: Store = notifications_app.state.store
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    credential = await admin.credential(partner)
    other_partner = await admin.partner()
    other_credential = await admin.credential(other_partner)
    family_id, kept_family = str(uuid.uuid4()), str(uuid.uuid4())
    escalated = escalation(partner, family_id=family_id)
    kept = escalation(partner, family_id=kept_family)
    await producer.send(escalated)
    await producer.send(kept)
    await producer.send(
        ReferralUpdated(
            family_id=family_id,
            referral_id=escalated.referral_id,
            partner_id=partner,
            status=ReferralStatus.ACCEPTED,
            updated_at=escalated.escalated_at,
        )
    )
    await receiver.wait_for(hook, 4)  # the endpoint's test delivery and three webhooks
    referral_url = f"/partner/v1/referrals/{escalated.referral_id}"
    assert (await client.get(referral_url, auth=credential)).status_code == 200

    officer = headers_for(mint, Role.PRIVACY_OFFICER)

    async def export() -> dict[str, Any]:
        response = await client.get(f"/privacy/families/{family_id}/export", headers=officer)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    body = await eventually(
        export,
        lambda e: (
            sum(
                d["state"] == "delivered"
                for r in e["sections"]["referrals"]
                for d in r["deliveries"]
            )
            == 2
        ),
    )
    (referral,) = body["sections"]["referrals"]
    assert referral["referral"]["referral_id"] == escalated.referral_id
    assert referral["partner"] == {"id": partner, "name": "Jeugdzorg Utrecht", "kind": "youth-care"}
    assert all(d["attempts"][0]["status_code"] == 200 for d in referral["deliveries"])
    assert "body" not in json.dumps(referral["deliveries"])
    for role in (Role.ADMIN, Role.OPERATOR, Role.COORDINATOR):
        refused = await client.get(
            f"/privacy/families/{family_id}/export", headers=headers_for(mint, role)
        )
        assert refused.status_code == 403

    request_id = str(uuid.uuid4())
    requested = FamilyErasureRequested(family_id=family_id, request_id=request_id)
    await producer.send(requested, source="/alamal/intake")
    await producer.send(requested, source="/alamal/intake")  # again: erased once
    key = family_id.encode()
    await read_topic_until(
        kafka_bootstrap, NOTIFICATIONS_FAMILY_ERASED, lambda rs: any(r.key == key for r in rs)
    )
    told = await receiver.wait_for(hook, 5)
    erasure = told[-1]
    assert erasure.verifies(endpoint["secret"])
    payload = json.loads(erasure.body)
    assert payload["type"] == ERASURE_REQUESTED
    WEBHOOK_MODELS[ERASURE_REQUESTED].model_validate(payload)  # the published contract
    assert payload["data"]["referral_id"] == escalated.referral_id
    assert payload["data"]["url"].endswith(referral_url)

    gone = await client.get(referral_url, auth=credential)
    assert gone.status_code == 410
    assert "erase" in gone.json()["detail"]
    answer = await client.post(f"{referral_url}/status", json={"status": "closed"}, auth=credential)
    assert answer.status_code == 410
    assert (await client.get(referral_url, auth=other_credential)).status_code == 404
    kept_url = f"/partner/v1/referrals/{kept.referral_id}"
    assert (await client.get(kept_url, auth=credential)).status_code == 200

    assert await store.find(repo.REFERRALS, {"family_id": family_id}) == []
    left = await store.find(messages.MESSAGES, {"referral_id": escalated.referral_id})
    assert [m.data["event_type"] for m in left] == [ERASURE_REQUESTED]
    counts = await store.get(ERASED_COUNTS, endpoint["id"])
    assert counts is not None
    assert counts.data == {"delivered": 2, "attempts": 2}
    assert await store.get(ERASED_FAMILIES, family_id) is not None
    after = await export()
    assert after["sections"]["referrals"] == []

    await asyncio.sleep(1.0)  # room for a (wrong) second confirmation
    records = await read_topic_until(
        kafka_bootstrap, NOTIFICATIONS_FAMILY_ERASED, lambda _: False, within=1.0
    )
    ours = [r for r in records if r.key == key]
    assert len(ours) == 1
    confirmed = from_kafka(ours[0].value, ours[0].headers, expect=NotificationsFamilyErased).data
    assert confirmed.request_id == request_id
    assert len(receiver.at(hook)) == 5  # the partner was told once
