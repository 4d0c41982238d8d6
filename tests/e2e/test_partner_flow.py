"""End to end: a referral reaches its partner as a signed webhook, and the partner answers.

On the embedded stack (intake, cases, notifications, ...) with a real receiver on this machine
that verifies every signature with the `standardwebhooks` library: an admin registers a partner
with an endpoint and an API credential; a trusted person refers a family that consented to
sharing with youth care; a coordinator approves; the partner gets the webhook, fetches the
details with its own credential, reports "accepted", and cases applies it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from alamal_notifications.receiver import Receiver
from alamal_runtime.auth import Role
from alamal_stack.runner import EmbeddedStack
from tests.e2e.conftest import family_body, token

pytestmark = pytest.mark.e2e

HOOK = "/hooks/jeugdzorg"


def bearer(stack: EmbeddedStack, role: Role, wijken: set[str]) -> tuple[str, dict[str, str]]:
    """A new staff user's id and headers."""
    user = str(uuid.uuid4())
    return user, {"Authorization": f"Bearer {token(stack, user_id=user, role=role, wijken=wijken)}"}


async def eventually[T](probe: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """Poll until `probe` returns something; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (found := await probe()) is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing within {within}s")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The partner's webhook receiver on 127.0.0.1."""
    running = Receiver()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_a_referral_reaches_the_partner_who_answers(
    stack: EmbeddedStack, receiver: Receiver
) -> None:
    intake, cases = stack.urls["intake"], stack.urls["cases"]
    notifications = stack.urls["notifications"]
    _, admin = bearer(stack, Role.ADMIN, set())
    trusted, tp = bearer(stack, Role.TRUSTED_PERSON, {"overvecht"})
    _, coordinator = bearer(stack, Role.COORDINATOR, {"overvecht"})

    async with httpx.AsyncClient(timeout=15) as http:
        partner = await http.post(
            f"{notifications}/partners",
            json={"name": "Jeugdzorg Utrecht", "kind": "youth-care"},
            headers=admin,
        )
        assert partner.status_code == 201, partner.text
        partner_id = partner.json()["id"]
        other = await http.post(
            f"{notifications}/partners", json={"name": "Politie", "kind": "police"}, headers=admin
        )
        endpoint = await http.post(
            f"{notifications}/partners/{partner_id}/endpoints",
            json={
                "url": receiver.url(HOOK),
                "event_types": ["referral.escalated", "referral.updated"],
            },
            headers=admin,
        )
        assert endpoint.status_code == 201, endpoint.text
        assert endpoint.json()["enabled"] is False
        secret = endpoint.json()["secret"]
        verified = await http.post(
            f"{notifications}/endpoints/{endpoint.json()['id']}/verify", headers=admin
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["enabled"] is True
        credential = await http.post(
            f"{notifications}/partners/{partner_id}/credentials", headers=admin
        )
        assert credential.status_code == 201, credential.text
        partner_auth = (credential.json()["client_id"], credential.json()["client_secret"])
        other_credential = await http.post(
            f"{notifications}/partners/{other.json()['id']}/credentials", headers=admin
        )
        other_auth = (
            other_credential.json()["client_id"],
            other_credential.json()["client_secret"],
        )

        body = family_body(trusted)
        body["consents"].append({"purpose": "share-youth-care", "granted": True})
        family = await http.post(f"{intake}/families", json=body, headers=tp)
        assert family.status_code == 201, family.text
        family_id = family.json()["id"]

        async def case_id() -> str | None:
            got = await http.get(f"{cases}/cases", params={"family_id": family_id}, headers=tp)
            return got.json()[0]["id"] if got.json() else None

        case = await eventually(case_id)

        async def proposed() -> str | None:
            # 422 on partner_id until cases has projected notifications' partner fact.
            answer = await http.post(
                f"{cases}/cases/{case}/referrals",
                json={
                    "partner_id": partner_id,
                    "partner_kind": "youth-care",
                    "urgency": "routine",
                    "reason_codes": ["parenting-support"],
                    "note": "Planted-referral-note-5563",
                },
                headers=tp,
            )
            if answer.status_code == 422:
                assert answer.json()["fields"] == ["partner_id"], answer.text
                return None
            assert answer.status_code == 201, answer.text
            created: str = answer.json()["id"]
            return created

        referral_id = await eventually(proposed)
        approved = await http.post(f"{cases}/referrals/{referral_id}/approve", headers=coordinator)
        assert approved.status_code == 200, approved.text
        sent = await http.post(f"{cases}/referrals/{referral_id}/send", headers=tp)
        assert sent.status_code == 200, sent.text

        def escalations() -> list[Any]:
            return [
                r for r in receiver.at(HOOK) if json.loads(r.body)["type"] == "referral.escalated"
            ]

        assert await receiver.wait_until(lambda: bool(escalations()), within=30)
        (hook,) = escalations()
        assert hook.verifies(secret)
        payload = json.loads(hook.body)
        assert payload["data"]["referral_id"] == referral_id
        assert b"Planted" not in hook.body
        assert b"Fatima" not in hook.body

        details_url = payload["data"]["url"]
        details = await http.get(details_url, auth=partner_auth)
        assert details.status_code == 200, details.text
        assert details.json()["details_shared"] is True
        assert details.json()["reason_codes"] == ["parenting-support"]
        assert "Planted" not in details.text
        assert (await http.get(details_url, auth=other_auth)).status_code == 404
        assert (await http.get(details_url, auth=("nobody", "wrong"))).status_code == 401

        answer = await http.post(
            f"{details_url}/status", json={"status": "accepted"}, auth=partner_auth
        )
        assert answer.status_code == 202, answer.text

        async def accepted() -> bool | None:
            got = await http.get(f"{cases}/referrals/{referral_id}", headers=tp)
            return True if got.json()["state"] == "accepted" else None

        await eventually(accepted)

        def updates() -> list[Any]:
            return [
                r for r in receiver.at(HOOK) if json.loads(r.body)["type"] == "referral.updated"
            ]

        assert await receiver.wait_until(lambda: bool(updates()), within=30)
        assert all(r.verifies(secret) for r in receiver.at(HOOK))
