"""Every notifications route that reads or writes a family's data leaves an access-audit record:
the partner API (a partner reading a referral's details, reporting its status), by partner id,
allowed and refused. Every other route is listed with the reason it touches no family's data,
so a new route fails here until it is classified.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from alamal_notifications.testing import Admin, Mint, Producer, escalation
from alamal_runtime.audit import PARTNER_ROLE
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

pytestmark = pytest.mark.integration

FAMILY_ROUTES = {
    ("GET", "/partner/v1/referrals"),
    ("GET", "/partner/v1/referrals/{referral_id}"),
    ("POST", "/partner/v1/referrals/{referral_id}/status"),
}
STAFF_FAMILY_ROUTES = {("GET", "/privacy/families/{family_id}/export")}
"""Staff routes naming a family: the privacy officer's export (audited below)."""
NO_FAMILY_DATA = {
    ("POST", "/partners"): "partner organisations (admin)",
    ("GET", "/partners"): "partner organisations (admin)",
    ("POST", "/partners/announce"): "partner facts (admin)",
    ("GET", "/partners/directory"): "partner names and kinds for staff",
    ("GET", "/partners/{partner_id}"): "a partner organisation (admin)",
    ("PATCH", "/partners/{partner_id}"): "a partner organisation (admin)",
    ("POST", "/partners/{partner_id}/credentials"): "partner credentials (admin)",
    ("GET", "/partners/{partner_id}/credentials"): "partner credentials (admin)",
    ("DELETE", "/partners/{partner_id}/credentials/{client_id}"): "partner credentials",
    ("POST", "/partners/{partner_id}/endpoints"): "webhook endpoints (admin)",
    ("GET", "/partners/{partner_id}/endpoints"): "webhook endpoints (admin)",
    ("GET", "/endpoints/{endpoint_id}"): "a webhook endpoint (admin)",
    ("PATCH", "/endpoints/{endpoint_id}"): "a webhook endpoint (admin)",
    ("POST", "/endpoints/{endpoint_id}/rotate-secret"): "a webhook endpoint's secret",
    ("POST", "/endpoints/{endpoint_id}/verify"): "a test delivery to a webhook endpoint",
    ("GET", "/endpoints/{endpoint_id}/messages"): "webhook messages: thin events, ids and codes",
    ("GET", "/endpoints/{endpoint_id}/attempts"): "delivery attempts: status codes and times",
    ("POST", "/endpoints/{endpoint_id}/messages/{message_id}/resend"): "a delivery, resent",
    ("POST", "/endpoints/{endpoint_id}/recover"): "deliveries, queued again",
    ("GET", "/deliveries"): "failed deliveries across endpoints: ids and codes",
}
"""Routes that read or write no family's data, with the reason (configuration and delivery
bookkeeping: webhook bodies are thin events of ids and codes)."""


def routes(client: httpx.AsyncClient) -> set[tuple[str, str]]:
    """(method, path template) of every route in the app's OpenAPI document."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    schema = transport.app.openapi()  # type: ignore[attr-defined]
    return {
        (m.upper(), path)
        for path, ops in schema["paths"].items()
        for m in ops
        if not path.startswith("/health/")
    }


async def records_of(store: Store, partner_id: str) -> list[dict[str, object]]:
    """The audit records of one partner."""
    return [r.data for r in await store.find("access_audit", {"user_id": partner_id}, limit=100)]


def test_every_route_is_classified(client: httpx.AsyncClient) -> None:
    classified = FAMILY_ROUTES | STAFF_FAMILY_ROUTES | set(NO_FAMILY_DATA)
    unclassified = routes(client) - classified
    assert unclassified == set(), "classify these routes: family data (audit them) or not"
    stale = classified - routes(client)
    assert stale == set(), "these routes are gone: drop them here"


async def test_partner_reads_and_reports_are_audited_allowed_and_refused(
    admin: Admin, client: httpx.AsyncClient, producer: Producer, notifications_app: object
) -> None:
    store: Store = notifications_app.state.store  # type: ignore[attr-defined]
    mine, theirs = await admin.partner(), await admin.partner()
    me, them = await admin.credential(mine), await admin.credential(theirs)
    event = escalation(mine)
    await producer.send(event)
    url = f"/partner/v1/referrals/{event.referral_id}"
    deadline = time.monotonic() + 15
    while (read := await client.get(url, auth=me)).status_code == 404:
        assert time.monotonic() < deadline, "referral never projected"
        await asyncio.sleep(0.05)
    assert read.status_code == 200
    assert (await client.get("/partner/v1/referrals", auth=me)).status_code == 200
    assert (await client.get(url, auth=them)).status_code == 404
    assert (
        await client.post(f"{url}/status", json={"status": "accepted"}, auth=them)
    ).status_code == 404
    reported = await client.post(f"{url}/status", json={"status": "accepted"}, auth=me)
    assert reported.status_code == 202, reported.text
    again = await client.post(f"{url}/status", json={"status": "accepted"}, auth=me)
    assert again.status_code == 409

    def seen(records: list[dict[str, object]]) -> set[tuple[object, ...]]:
        return {
            (r["action"], r["outcome"], r["family_id"], r["role"], r["refusal"]) for r in records
        }

    assert seen(await records_of(store, mine)) >= {
        ("partner-read-referral", "allowed", event.family_id, PARTNER_ROLE, None),
        ("partner-list-referrals", "allowed", event.family_id, PARTNER_ROLE, None),
        ("partner-report-status", "allowed", event.family_id, PARTNER_ROLE, None),
        (
            "partner-report-status",
            "denied-or-missing",
            event.family_id,
            PARTNER_ROLE,
            "status-conflict",
        ),
    }
    assert seen(await records_of(store, theirs)) == {
        (
            "partner-read-referral",
            "denied-or-missing",
            event.family_id,
            PARTNER_ROLE,
            "not-own-referral",
        ),
        (
            "partner-report-status",
            "denied-or-missing",
            event.family_id,
            PARTNER_ROLE,
            "not-own-referral",
        ),
    }


async def test_the_privacy_export_is_audited_allowed_and_refused(
    client: httpx.AsyncClient, mint: Mint, notifications_app: object
) -> None:
    store: Store = notifications_app.state.store  # type: ignore[attr-defined]
    family_id = str(uuid.uuid4())
    officer, holder = str(uuid.uuid4()), str(uuid.uuid4())
    url = f"/privacy/families/{family_id}/export"

    async def ask(user_id: str, role: Role) -> int:
        token = mint(user_id=user_id, role=role)
        headers = {"Authorization": f"Bearer {token}", "X-Access-Reason": "audit-coverage"}
        return (await client.get(url, headers=headers)).status_code

    assert await ask(officer, Role.PRIVACY_OFFICER) == 200
    assert await ask(holder, Role.TRUSTED_PERSON) == 403

    def seen(records: list[dict[str, object]]) -> set[tuple[object, ...]]:
        return {
            (r["action"], r["outcome"], r["family_id"], r["role"], r["reason"]) for r in records
        }

    assert seen(await records_of(store, officer)) == {
        ("export-family", "allowed", family_id, "privacy_officer", "audit-coverage")
    }
    assert seen(await records_of(store, holder)) == {
        ("export-family", "denied-or-missing", family_id, "trusted_person", "audit-coverage")
    }
