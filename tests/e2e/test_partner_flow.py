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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from alamal_contracts.codes import PartnerKind
from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import PartnerChanged
from alamal_notifications.receiver import Receiver
from alamal_notifications.testing import PublishedContract
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


async def test_lying_inputs_never_reach_a_partner(stack: EmbeddedStack, receiver: Receiver) -> None:
    """Issue 11's reproductions through the whole stack, judged where the harm was: what each
    partner's endpoint receives and reads through the partner API. A youth-care partner declared
    as police, a police partner declared as Veilig Thuis (and given a Meldcode override), an
    unregistered partner id, a partner deactivated before sending; every webhook checked
    against the partner API's published document."""
    intake, cases = stack.urls["intake"], stack.urls["cases"]
    notifications = stack.urls["notifications"]
    _, admin = bearer(stack, Role.ADMIN, set())
    trusted, tp = bearer(stack, Role.TRUSTED_PERSON, {"overvecht"})
    _, coordinator = bearer(stack, Role.COORDINATOR, {"overvecht"})

    async with httpx.AsyncClient(timeout=15) as http:
        contract = PublishedContract(
            (await http.get(f"{notifications}/partner/v1/openapi.json")).json()
        )
        partners: dict[str, tuple[str, str, tuple[str, str]]] = {}  # kind -> id, hook, auth
        for kind in ("youth-care", "police", "veilig-thuis", "welfare"):
            made = await http.post(
                f"{notifications}/partners",
                json={"name": f"E2E {kind}", "kind": kind},
                headers=admin,
            )
            assert made.status_code == 201, made.text
            pid, hook = made.json()["id"], f"/hooks/lying/{kind}"
            endpoint = await http.post(
                f"{notifications}/partners/{pid}/endpoints",
                json={"url": receiver.url(hook), "event_types": ["referral.escalated"]},
                headers=admin,
            )
            verified = await http.post(
                f"{notifications}/endpoints/{endpoint.json()['id']}/verify", headers=admin
            )
            assert verified.status_code == 200, verified.text
            login = await http.post(f"{notifications}/partners/{pid}/credentials", headers=admin)
            partners[kind] = (pid, hook, (login.json()["client_id"], login.json()["client_secret"]))

        async def family(*sharing: str) -> str:
            body = family_body(trusted)
            body["consents"] += [{"purpose": p, "granted": True} for p in sharing]
            made = await http.post(f"{intake}/families", json=body, headers=tp)
            assert made.status_code == 201, made.text

            async def case_id() -> str | None:
                got = await http.get(
                    f"{cases}/cases", params={"family_id": made.json()["id"]}, headers=tp
                )
                return got.json()[0]["id"] if got.json() else None

            return await eventually(case_id)

        async def propose(case: str, kind: str, **declared: str) -> httpx.Response:
            return await http.post(
                f"{cases}/cases/{case}/referrals",
                json={
                    "partner_id": partners[kind][0],
                    "urgency": "urgent",
                    "reason_codes": ["safety"],
                    **declared,
                },
                headers=tp,
            )

        async def once_known(case: str, kind: str, **declared: str) -> httpx.Response:
            async def answer() -> httpx.Response | None:
                got = await propose(case, kind, **declared)
                return (
                    None
                    if got.status_code == 422 and got.json()["fields"] == ["partner_id"]
                    else got
                )

            return await eventually(answer)

        async def approve_and_send(referral_id: str) -> httpx.Response:
            approved = await http.post(
                f"{cases}/referrals/{referral_id}/approve", headers=coordinator
            )
            assert approved.status_code == 200, approved.text
            return await http.post(f"{cases}/referrals/{referral_id}/send", headers=tp)

        # 1. Consent for the police only; the youth-care partner declared as police.
        police_only = await family("share-police")
        lying = await once_known(police_only, "youth-care", partner_kind="police")
        assert (lying.status_code, lying.json()["fields"]) == (422, ["partner_kind"]), lying.text
        honest = await propose(police_only, "youth-care")
        assert honest.json()["partner_kind"] == "youth-care", honest.text
        refused = await approve_and_send(honest.json()["id"])
        assert refused.status_code == 409, refused.text

        # 2. No sharing consent; the police partner declared as Veilig Thuis, then overridden.
        no_sharing = await family()
        lying = await once_known(no_sharing, "police", partner_kind="veilig-thuis")
        assert (lying.status_code, lying.json()["fields"]) == (422, ["partner_kind"]), lying.text
        police = (await propose(no_sharing, "police")).json()["id"]
        override = await http.post(
            f"{cases}/referrals/{police}/meldcode-override",
            json={"reason_code": "child-unsafe"},
            headers=coordinator,
        )
        assert override.status_code == 409, override.text
        assert (await approve_and_send(police)).status_code == 409

        # 3. A partner id no one registered.
        unknown = await http.post(
            f"{cases}/cases/{police_only}/referrals",
            json={
                "partner_id": str(uuid.uuid4()),
                "partner_kind": "police",
                "urgency": "urgent",
                "reason_codes": ["safety"],
            },
            headers=tp,
        )
        assert (unknown.status_code, unknown.json()["fields"]) == (422, ["partner_id"])

        # The override does open Veilig Thuis (the gate is not "refuse everything").
        vt = (await once_known(no_sharing, "veilig-thuis")).json()["id"]
        override = await http.post(
            f"{cases}/referrals/{vt}/meldcode-override",
            json={"reason_code": "child-unsafe"},
            headers=coordinator,
        )
        assert override.status_code == 200, override.text
        assert (await approve_and_send(vt)).json()["legal_basis"] == "meldcode-override"

        # 4. A partner deactivated before sending: 409 once cases knows; sent in the moment
        # before, it comes back declined / partner-inactive. Never delivered, never left "sent".
        welfare = await family("share-welfare")
        proposed = (await once_known(welfare, "welfare")).json()["id"]
        deactivated = await http.patch(
            f"{notifications}/partners/{partners['welfare'][0]}",
            json={"active": False},
            headers=admin,
        )
        assert deactivated.status_code == 200, deactivated.text
        sent = await approve_and_send(proposed)
        if sent.status_code == 409:
            assert "deactivated" in sent.json()["detail"], sent.text
        else:
            assert sent.status_code == 200, sent.text

            async def declined() -> dict[str, Any] | None:
                got = (await http.get(f"{cases}/referrals/{proposed}", headers=tp)).json()
                return got if got["state"] == "declined" else None

            assert (await eventually(declined))["outcome_code"] == "partner-inactive"
        later = await propose(welfare, "welfare")
        assert (later.status_code, later.json()["fields"]) == (422, ["partner_id"])

        # What the partners got: Veilig Thuis its escalation (details readable); the others
        # nothing but the verification test, and nothing to read or list.
        _, vt_hook, vt_auth = partners["veilig-thuis"]

        def escalations(hook: str) -> list[dict[str, Any]]:
            bodies = [json.loads(r.body) for r in receiver.at(hook)]
            return [b for b in bodies if b["type"] == "referral.escalated"]

        assert await receiver.wait_until(lambda: bool(escalations(vt_hook)), within=30)
        (webhook,) = escalations(vt_hook)
        assert set(webhook["data"]) == {"referral_id", "partner_id", "status", "url"}
        read = await http.get(webhook["data"]["url"], auth=vt_auth)
        assert read.json()["details_shared"] is True, read.text
        contract.check_answer("GET", f"/partner/v1/referrals/{vt}", 200, read.json())
        for kind in ("youth-care", "police", "welfare"):
            _, hook_path, auth = partners[kind]
            assert escalations(hook_path) == [], kind
            listed = await http.get(f"{notifications}/partner/v1/referrals", auth=auth)
            contract.check_answer("GET", "/partner/v1/referrals", 200, listed.json())
            shared = [
                r
                for r in listed.json()["results"]
                if (await http.get(r["url"], auth=auth)).json()["details_shared"]
            ]
            assert shared == [], kind
        for kind in ("youth-care", "police"):
            listed = await http.get(f"{notifications}/partner/v1/referrals", auth=partners[kind][2])
            assert listed.json()["results"] == [], kind
        for received in receiver.received:
            if received.path.startswith("/hooks/lying/"):
                contract.check_webhook(received.body)


async def test_a_forged_partner_fact_is_stopped_by_notifications_own_record(
    stack: EmbeddedStack,
) -> None:
    """Defence in depth on the real stack: a partner fact forged on the broker (a police
    partner "changed" to Veilig Thuis at a high revision) fools cases, which lets a Meldcode
    override through; notifications, deciding on its own partner record, still shows the police
    nothing. Replaying the forgery changes nothing more."""
    intake, cases = stack.urls["intake"], stack.urls["cases"]
    notifications = stack.urls["notifications"]
    _, admin = bearer(stack, Role.ADMIN, set())
    trusted, tp = bearer(stack, Role.TRUSTED_PERSON, {"overvecht"})
    _, coordinator = bearer(stack, Role.COORDINATOR, {"overvecht"})
    async with httpx.AsyncClient(timeout=15) as http:
        made = await http.post(
            f"{notifications}/partners", json={"name": "Politie", "kind": "police"}, headers=admin
        )
        police = made.json()["id"]
        login = await http.post(f"{notifications}/partners/{police}/credentials", headers=admin)
        auth = (login.json()["client_id"], login.json()["client_secret"])
        family = await http.post(f"{intake}/families", json=family_body(trusted), headers=tp)
        assert family.status_code == 201, family.text

        async def case_id() -> str | None:
            got = await http.get(
                f"{cases}/cases", params={"family_id": family.json()["id"]}, headers=tp
            )
            return got.json()[0]["id"] if got.json() else None

        case = await eventually(case_id)
        forged = PartnerChanged(
            partner_id=police,
            kind=PartnerKind.VEILIG_THUIS,
            active=True,
            revision=1_000,
            changed_at=datetime.now(UTC),
        )
        record = to_kafka(
            forged,
            event_id=str(uuid.uuid4()),
            source="/alamal/notifications",
            time=forged.changed_at,
        )
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            for _ in range(2):  # the forgery, then a replay of the same record
                await producer.send_and_wait(
                    record.topic,
                    record.value,
                    key=record.key.encode(),
                    headers=list(record.headers),
                )
        finally:
            await producer.stop()

        async def fooled() -> str | None:
            got = await http.post(
                f"{cases}/cases/{case}/referrals",
                json={"partner_id": police, "urgency": "acute", "reason_codes": ["safety"]},
                headers=tp,
            )
            if got.status_code == 201 and got.json()["partner_kind"] == "veilig-thuis":
                referral_id: str = got.json()["id"]
                return referral_id
            return None

        referral = await eventually(fooled)
        override = await http.post(
            f"{cases}/referrals/{referral}/meldcode-override",
            json={"reason_code": "child-unsafe"},
            headers=coordinator,
        )
        assert override.status_code == 200, override.text  # cases alone is fooled
        assert (
            await http.post(f"{cases}/referrals/{referral}/approve", headers=coordinator)
        ).status_code == 200
        sent = await http.post(f"{cases}/referrals/{referral}/send", headers=tp)
        assert sent.json()["legal_basis"] == "meldcode-override", sent.text

        async def readable() -> dict[str, Any] | None:
            got = await http.get(f"{notifications}/partner/v1/referrals/{referral}", auth=auth)
            return got.json() if got.status_code == 200 else None

        shown = await eventually(readable)
        assert shown["details_shared"] is False, shown
        assert shown["urgency"] is None
        assert shown["family_reference"] is None
        # Notifications' own record of the partner is unchanged by the forgery.
        record_now = await http.get(f"{notifications}/partners/{police}", headers=admin)
        assert (record_now.json()["kind"], record_now.json()["revision"]) == ("police", 1)
