"""The same delivery path on the MongoDB backend, over the wire protocol (mongoeco server)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from alamal_contracts.codes import ConsentPurpose
from alamal_notifications.receiver import Receiver, Reply
from alamal_notifications.settings import NotificationsSettings
from alamal_notifications.testing import (
    INTAKE,
    Admin,
    Mint,
    Producer,
    client_of,
    escalation,
    headers_for,
    path,
    registration,
    running,
)
from alamal_runtime.auth import Role
from alamal_stack.mongoeco_server import MongoecoServer


@pytest.fixture(scope="module")
def mongo_url() -> Iterator[str]:
    """A mongoeco wire server and a fresh database on it."""
    with MongoecoServer() as server:
        base, _, query = server.uri.partition("?")
        yield f"{base.rstrip('/')}/alamal_notifications_{uuid.uuid4().hex[:8]}?{query}"


@pytest.fixture(scope="module")
async def notifications_app(
    make_settings: Callable[..., NotificationsSettings], mongo_url: str, receiver: Receiver
) -> AsyncIterator[FastAPI]:
    """The service on the MongoDB backend."""
    async with running(make_settings(store_url=mongo_url)) as app:
        yield app


async def test_delivery_retry_and_partner_read_on_mongodb(
    notifications_app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    producer: Producer,
    mint: Mint,
) -> None:
    assert type(notifications_app.state.store).__name__ == "MongoStore"
    admin = Admin(client=client, headers=headers_for(mint, Role.ADMIN))
    partner = await admin.partner()
    auth = await admin.credential(partner)
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(hook, Reply(500))
    registered = registration(granted=(ConsentPurpose.SHARE_YOUTH_CARE,))
    await producer.send(registered, source=INTAKE)
    event = escalation(partner, family_id=registered.family_id)
    await producer.send(event)
    # A new consumer group reads every topic from the start: on mongoeco the session's earlier
    # events (each an inbox write that scans the collection) can take a while to get through.
    _, failed, delivered = await receiver.wait_for(hook, 3, within=45)
    assert failed.webhook_id == delivered.webhook_id
    assert delivered.verifies(endpoint["secret"])
    assert json.loads(delivered.body)["data"]["referral_id"] == event.referral_id
    await asyncio.sleep(0.3)
    [message] = (
        await client.get(f"/endpoints/{endpoint['id']}/messages", headers=admin.headers)
    ).json()
    assert (message["state"], message["attempts"]) == ("delivered", 2)
    async with client_of(notifications_app) as other:
        read = await other.get(f"/partner/v1/referrals/{event.referral_id}", auth=auth)
    assert read.status_code == 200
    assert read.json()["details_shared"] is True
