"""Registering partners and endpoints: roles, validation (422 naming the field) and SSRF rules."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from cryptography.fernet import Fernet

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

HOOK = {"event_types": ["referral.escalated"]}


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.OPERATOR, Role.TRUSTED_PERSON])
async def test_only_admins_manage_partners(
    client: httpx.AsyncClient, mint: Mint, admin: Admin, receiver: Receiver, role: Role
) -> None:
    headers = headers_for(mint, role)
    partner = await admin.partner()
    body = {"name": "Politie Utrecht", "kind": "police"}
    assert (await client.post("/partners", json=body, headers=headers)).status_code == 403
    assert (await client.get("/partners", headers=headers)).status_code == 403
    create = await client.post(
        f"/partners/{partner}/endpoints",
        json={**HOOK, "url": receiver.url(path())},
        headers=headers,
    )
    assert create.status_code == 403
    assert (
        await client.post(f"/partners/{partner}/credentials", headers=headers)
    ).status_code == 403


async def test_partners_are_listed_and_read(admin: Admin, client: httpx.AsyncClient) -> None:
    partner = await admin.partner()
    listed = await client.get("/partners", headers=admin.headers)
    assert partner in {p["id"] for p in listed.json()}
    read = await client.get(f"/partners/{partner}", headers=admin.headers)
    assert read.json()["kind"] == "youth-care"
    missing = await client.get(f"/partners/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404
    bad = await client.post("/partners", json={"name": "", "kind": "bakery"}, headers=admin.headers)
    assert bad.status_code == 422
    assert bad.json()["fields"] == ["kind", "name"]


async def test_staff_see_a_partner_directory_without_endpoints_or_secrets(
    admin: Admin, client: httpx.AsyncClient, mint: Mint
) -> None:
    partner = await admin.partner()
    for role in (Role.TRUSTED_PERSON, Role.COORDINATOR, Role.ADMIN):
        listed = await client.get("/partners/directory", headers=headers_for(mint, role))
        assert listed.status_code == 200
        (entry,) = [p for p in listed.json() if p["id"] == partner]
        assert set(entry) == {"id", "name", "kind", "active"}
    for role in (Role.OPERATOR, Role.FUNDER):
        refused = await client.get("/partners/directory", headers=headers_for(mint, role))
        assert refused.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "http://10.1.2.3/hook"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://192.168.1.10/hook"}, "url"),
        ({"url": "http://[::1]/hook"}, "url"),
        ({"url": "http://0.0.0.0/hook"}, "url"),
        ({"url": "http://100.64.0.1/hook"}, "url"),
        ({"url": "ftp://example.org/hook"}, "url"),
        ({"url": "http://user:pw@127.0.0.1/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"event_types": ["referral.deleted"]}, "event_types.0"),
        ({"event_types": []}, "event_types"),
        ({"filters": {"urgency": ["whenever"]}}, "filters"),
        ({"filters": {"urgency": []}}, "filters"),
        ({"filters": {"wijk": ["west"]}}, "filters.wijk.[key]"),
        ({"colour": "blue"}, "colour"),
        ({"enabled": True}, "enabled"),
        ({"enabled": "false"}, "enabled"),
    ],
)
async def test_invalid_endpoints_are_refused_naming_the_field(
    admin: Admin,
    client: httpx.AsyncClient,
    receiver: Receiver,
    change: dict[str, object],
    field: str,
) -> None:
    partner = await admin.partner()
    body = {**HOOK, "url": receiver.url(path()), **change}
    response = await client.post(f"/partners/{partner}/endpoints", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == [field]
    listed = await client.get(f"/partners/{partner}/endpoints", headers=admin.headers)
    assert listed.json() == []


async def test_a_new_endpoint_is_disabled_and_sent_nothing_until_verified(
    admin: Admin, client: httpx.AsyncClient, receiver: Receiver, producer: Producer
) -> None:
    """No test goes out at creation (`enabled: false` really sends nothing), no event either;
    a failing verify leaves it disabled (409, logged); a passing one enables it."""
    partner = await admin.partner()
    hook = path()
    created = await client.post(
        f"/partners/{partner}/endpoints",
        json={**HOOK, "url": receiver.url(hook), "enabled": False},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert (endpoint["enabled"], endpoint["verified_at"]) == (False, None)
    assert endpoint["disabled_reason"] == "unverified"
    assert endpoint["secret"].startswith("whsec_")
    await producer.send(escalation(partner))
    enable = await client.patch(
        f"/endpoints/{endpoint['id']}", json={"enabled": True}, headers=admin.headers
    )
    assert enable.status_code == 409
    assert "verify" in enable.json()["detail"]
    await asyncio.sleep(0.5)
    assert receiver.at(hook) == []

    receiver.plan(hook, Reply(500))
    failed = await client.post(f"/endpoints/{endpoint['id']}/verify", headers=admin.headers)
    assert failed.status_code == 409
    assert "http_500" in failed.json()["detail"]
    shown = await client.get(f"/endpoints/{endpoint['id']}", headers=admin.headers)
    assert shown.json()["enabled"] is False
    verified = await admin.verify(endpoint["id"])
    assert verified["enabled"] is True
    assert verified["verified_at"] is not None
    assert verified["disabled_reason"] is None
    tests = receiver.at(hook)
    assert [json.loads(t.body)["type"] for t in tests] == ["webhook.test"] * 2
    assert all(t.verifies(endpoint["secret"]) for t in tests)
    log = await client.get(f"/endpoints/{endpoint['id']}/attempts", headers=admin.headers)
    assert [(a["trigger"], a["status_code"]) for a in log.json()] == [
        ("verify", 200),
        ("verify", 500),
    ]


async def test_a_new_endpoint_cannot_be_created_enabled(
    admin: Admin, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    partner = await admin.partner()
    hook = path()
    refused = await client.post(
        f"/partners/{partner}/endpoints",
        json={**HOOK, "url": receiver.url(hook), "enabled": True},
        headers=admin.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["fields"] == ["enabled"]
    assert receiver.at(hook) == []
    unknown = await client.post(
        f"/partners/{uuid.uuid4()}/endpoints",
        json={**HOOK, "url": receiver.url(hook)},
        headers=admin.headers,
    )
    assert unknown.status_code == 404
    missing = await client.post(f"/endpoints/{uuid.uuid4()}/verify", headers=admin.headers)
    assert missing.status_code == 404


async def test_prod_requires_https(
    make_settings: Callable[..., NotificationsSettings], receiver: Receiver, mint: Mint
) -> None:
    settings = make_settings(
        profile="prod",
        secrets_key=Fernet.generate_key().decode(),
        public_base_url="https://partners.example.org",
    )
    async with running(settings) as app, client_of(app) as client:
        admin = Admin(client=client, headers=headers_for(mint, Role.ADMIN))
        partner = await admin.partner()
        hook = path()
        response = await client.post(
            f"/partners/{partner}/endpoints",
            json={**HOOK, "url": receiver.url(hook)},
            headers=admin.headers,
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == "the URL must use https"
        assert receiver.at(hook) == []


@pytest.mark.parametrize("overlap", [True, "60", -1, 8 * 24 * 3600, [60]])
async def test_a_rotation_overlap_must_be_a_number_of_seconds(
    admin: Admin, client: httpx.AsyncClient, receiver: Receiver, overlap: object
) -> None:
    """Strict types: a JSON boolean or string is not a number (no silent `true` -> 1.0)."""
    partner = await admin.partner()
    endpoint = await admin.endpoint(partner, receiver.url(path()))
    response = await client.post(
        f"/endpoints/{endpoint['id']}/rotate-secret",
        json={"overlap_seconds": overlap},
        headers=admin.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == ["overlap_seconds"]
    shown = await client.get(f"/endpoints/{endpoint['id']}", headers=admin.headers)
    assert shown.json()["secrets_active"] == 1
