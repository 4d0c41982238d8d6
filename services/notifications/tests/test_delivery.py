"""Deliveries to a real receiver: signatures, payload, retries, 410, isolation between partners."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid

import httpx

from alamal_contracts.codes import LegalBasis, PartnerKind, ReferralStatus, Urgency
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import EndpointDisabled, ReferralUpdated
from alamal_contracts.topics import ENDPOINT_DISABLED
from alamal_notifications.receiver import Hang, Receiver, Reply, Reset
from alamal_notifications.testing import Admin, Producer, escalation, path
from alamal_stack.kafka_testing import read_topic_until


async def _endpoint_state(
    client: httpx.AsyncClient, admin: Admin, endpoint_id: str
) -> dict[str, object]:
    response = await client.get(f"/endpoints/{endpoint_id}", headers=admin.headers)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_an_escalation_is_delivered_signed_and_thin(
    admin: Admin, receiver: Receiver, producer: Producer
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    [test_delivery] = receiver.at(hook)
    assert test_delivery.verifies(endpoint["secret"])
    assert json.loads(test_delivery.body)["type"] == "webhook.test"

    event = escalation(partner, urgency=Urgency.ACUTE)
    await producer.send(event)
    _, delivered = await receiver.wait_for(hook, 2)

    assert delivered.verifies(endpoint["secret"])
    assert not delivered.verifies("whsec_" + "A" * 44)
    assert delivered.webhook_id.startswith("msg_")
    assert delivered.headers["content-type"] == "application/json"
    body = json.loads(delivered.body)
    assert body["type"] == "referral.escalated"
    assert body["data"] == {
        "referral_id": event.referral_id,
        "partner_id": partner,
        "status": "sent",
        "url": f"https://notifications.test/partner/v1/referrals/{event.referral_id}",
    }
    # Thin: no family, no case, nothing the consent gate guards (urgency, reasons) in transit.
    text = delivered.body.decode()
    assert event.family_id not in text
    assert event.case_id not in text
    assert "safety" not in text
    assert "acute" not in text


async def test_the_same_escalation_again_sends_no_second_webhook(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    """A replayed `cases.referral-escalated.v1` under a new event id (the inbox cannot tell)
    queues nothing: one referral, one `referral.escalated` message per endpoint."""
    partner = await admin.partner()
    endpoint = await admin.endpoint(partner, receiver.url(path()))
    event = escalation(partner)
    await producer.send(event)
    await producer.send(event)
    # A later escalation on the same key: once it is queued, the replay before it was handled.
    marker = escalation(partner, family_id=event.family_id)
    await producer.send(marker)
    url = f"/endpoints/{endpoint['id']}/messages"
    deadline = time.monotonic() + 30
    while True:
        listed = (await client.get(url, headers=admin.headers)).json()
        queued = [m["referral_id"] for m in listed if m["event_type"] == "referral.escalated"]
        if marker.referral_id in queued:
            break
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.05)
    assert sorted(queued) == sorted([event.referral_id, marker.referral_id])


async def test_failures_are_retried_with_the_same_webhook_id(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(
        hook,
        Reply(500),
        Reset(),
        Hang(5),
        Reply(307, {"location": receiver.url(hook + "/elsewhere")}),
    )
    await producer.send(escalation(partner))
    attempts = (await receiver.wait_for(hook, 6, within=15))[1:]

    assert [type(a.answer).__name__ for a in attempts] == [
        "Reply",
        "Reset",
        "Hang",
        "Reply",
        "Reply",
    ]
    assert len({a.webhook_id for a in attempts}) == 1
    assert all(a.verifies(endpoint["secret"]) for a in attempts)
    assert receiver.at(hook + "/elsewhere") == []  # the redirect was not followed
    # Backoff: each retry waits at least the (jitter-free) schedule's delay.
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.08  # 0.1 s, less the spread of request timings
    assert gaps[1] >= 0.18

    await asyncio.sleep(0.3)
    log = await client.get(f"/endpoints/{endpoint['id']}/attempts", headers=admin.headers)
    entries = [e for e in reversed(log.json()) if e["trigger"] != "verify"]
    assert [e["error"] for e in entries] == [
        "http_500",
        "connection_error",
        "timeout",
        "redirect",
        None,
    ]
    assert [e["status_code"] for e in entries] == [500, None, None, 307, 200]
    assert entries[-1]["response_excerpt"] == "ok"
    assert all(e["latency_ms"] >= 0 for e in entries)
    assert entries[2]["latency_ms"] >= 450  # the hang was cut off at the 0.5 s timeout
    messages = await client.get(f"/endpoints/{endpoint['id']}/messages", headers=admin.headers)
    [message] = messages.json()
    assert (message["state"], message["attempts"]) == ("delivered", 5)
    assert (await _endpoint_state(client, admin, endpoint["id"]))["failing_since"] is None


async def test_retry_after_is_honoured(
    admin: Admin, receiver: Receiver, producer: Producer
) -> None:
    partner = await admin.partner()
    hook = path()
    await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(hook, Reply(503, {"retry-after": "1"}))
    await producer.send(escalation(partner))
    first, second = (await receiver.wait_for(hook, 3))[1:]
    assert second.at - first.at >= 0.95  # not the schedule's 0.1 s


async def test_exhausted_retries_fail_the_message(
    admin: Admin, receiver: Receiver, producer: Producer, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(hook, *[Reply(500)] * 5)
    await producer.send(escalation(partner))
    await receiver.wait_for(hook, 6)
    await asyncio.sleep(0.5)
    assert len(receiver.at(hook)) == 6  # the test delivery, 1 + 4 retries, then no more
    messages = await client.get(
        f"/endpoints/{endpoint['id']}/messages",
        params={"state": "failed"},
        headers=admin.headers,
    )
    assert [m["attempts"] for m in messages.json()] == [5]


async def test_410_disables_the_endpoint_and_says_so_on_the_topic(
    admin: Admin,
    receiver: Receiver,
    producer: Producer,
    client: httpx.AsyncClient,
    kafka_bootstrap: str,
) -> None:
    partner = await admin.partner()
    hook = path()
    endpoint = await admin.endpoint(partner, receiver.url(hook))
    receiver.plan(hook, Reply(410))
    await producer.send(escalation(partner))
    await receiver.wait_for(hook, 2)

    deadline = time.monotonic() + 5
    while (state := await _endpoint_state(client, admin, endpoint["id"]))["enabled"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert state["disabled_reason"] == "gone"
    records = await read_topic_until(
        kafka_bootstrap,
        ENDPOINT_DISABLED,
        lambda got: any(r.key == endpoint["id"].encode() for r in got),
    )
    [record] = [r for r in records if r.key == endpoint["id"].encode()]
    disabled = from_kafka(record.value, record.headers).data
    assert isinstance(disabled, EndpointDisabled)
    assert (disabled.partner_id, disabled.reason.value) == (partner, "gone")

    await producer.send(escalation(partner))
    await asyncio.sleep(1.0)
    assert len(receiver.at(hook)) == 2  # a disabled endpoint gets nothing


async def test_only_the_addressed_partner_receives(
    admin: Admin, receiver: Receiver, producer: Producer
) -> None:
    addressed, other = await admin.partner(), await admin.partner()
    hook, other_hook = path(), path()
    await admin.endpoint(addressed, receiver.url(hook))
    await admin.endpoint(other, receiver.url(other_hook))
    event = escalation(addressed)
    await producer.send(event)
    await receiver.wait_for(hook, 2)
    await producer.send(
        ReferralUpdated(
            family_id=event.family_id,
            referral_id=event.referral_id,
            partner_id=addressed,
            status=ReferralStatus.ACCEPTED,
            updated_at=event.escalated_at,
        )
    )
    _, _escalated, updated = await receiver.wait_for(hook, 3)
    assert json.loads(updated.body)["type"] == "referral.updated"
    assert json.loads(updated.body)["data"]["status"] == "accepted"
    await asyncio.sleep(0.5)
    assert len(receiver.at(other_hook)) == 1  # only its own test delivery


async def test_filters_and_event_types_select_what_an_endpoint_gets(
    admin: Admin, receiver: Receiver, producer: Producer
) -> None:
    partner = await admin.partner(PartnerKind.VEILIG_THUIS)
    urgent_only, everything = path(), path()
    await admin.endpoint(
        partner,
        receiver.url(urgent_only),
        event_types=("referral.escalated",),
        filters={"urgency": ["urgent", "acute"]},
    )
    await admin.endpoint(partner, receiver.url(everything))
    override = LegalBasis.MELDCODE_OVERRIDE  # Veilig Thuis sees the details: filters apply
    routine = escalation(
        partner, kind=PartnerKind.VEILIG_THUIS, urgency=Urgency.ROUTINE, legal_basis=override
    )
    acute = escalation(
        partner, kind=PartnerKind.VEILIG_THUIS, urgency=Urgency.ACUTE, legal_basis=override
    )
    # Without consent or override the urgency is gated: the filter must not reveal it, so
    # this routine referral reaches the urgent-only endpoint too.
    gated = escalation(partner, kind=PartnerKind.VEILIG_THUIS, urgency=Urgency.ROUTINE)
    for event in (routine, acute, gated):
        await producer.send(event)
    await receiver.wait_for(everything, 4)
    await receiver.wait_for(urgent_only, 3)
    await asyncio.sleep(0.5)
    got = receiver.at(urgent_only)[1:]
    assert {json.loads(g.body)["data"]["referral_id"] for g in got} == {
        acute.referral_id,
        gated.referral_id,
    }


async def test_a_slow_endpoint_does_not_delay_a_healthy_one(
    admin: Admin, receiver: Receiver, producer: Producer
) -> None:
    slow_partner, healthy_partner = await admin.partner(), await admin.partner()
    slow, healthy = path(), path()
    await admin.endpoint(slow_partner, receiver.url(slow))
    await admin.endpoint(healthy_partner, receiver.url(healthy))
    receiver.plan(slow, *[Hang(5)] * 20)
    for _ in range(5):
        await producer.send(escalation(slow_partner))
    await receiver.wait_for(slow, 2)  # the slow endpoint is now hanging
    sent = time.monotonic()
    await producer.send(escalation(healthy_partner))
    [*_, got] = await receiver.wait_for(healthy, 2, within=5)
    assert got.at - sent < 0.4  # not queued behind 5 x 0.5 s of hanging requests


async def test_the_delivery_log_is_for_admins_and_operators_only(
    admin: Admin, client: httpx.AsyncClient, receiver: Receiver, mint: object
) -> None:
    from alamal_notifications.testing import headers_for
    from alamal_runtime.auth import Role

    partner = await admin.partner()
    endpoint = await admin.endpoint(partner, receiver.url(path()))
    url = f"/endpoints/{endpoint['id']}/attempts"
    operator = headers_for(mint, Role.OPERATOR)  # type: ignore[arg-type]
    coordinator = headers_for(mint, Role.COORDINATOR)  # type: ignore[arg-type]
    assert (await client.get(url, headers=operator)).status_code == 200
    assert (await client.get(url, headers=coordinator)).status_code == 403
    assert (await client.get(url)).status_code == 401
    missing = f"/endpoints/{uuid.uuid4()}/attempts"
    assert (await client.get(missing, headers=operator)).status_code == 404
    resend = f"/endpoints/{endpoint['id']}/recover"
    assert (
        await client.post(resend, json={"since": "2026-01-01T00:00:00Z"}, headers=operator)
    ).status_code == 403
