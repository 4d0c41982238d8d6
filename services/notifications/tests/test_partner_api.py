"""The partner API: own credentials, own referrals only, details gated by consent or Meldcode."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alamal_contracts.codes import ConsentPurpose, LegalBasis, PartnerKind
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import ConsentChanged, PartnerStatusReported
from alamal_contracts.topics import PARTNER_STATUS_REPORTED
from alamal_notifications.receiver import Receiver
from alamal_notifications.testing import (
    INTAKE,
    Admin,
    Producer,
    escalation,
    path,
    registration,
)
from alamal_stack.kafka_testing import read_topic_until

GATED = ("urgency", "reason_codes", "legal_basis", "escalated_at")


async def _read(
    client: httpx.AsyncClient, referral_id: str, auth: tuple[str, str]
) -> httpx.Response:
    return await client.get(f"/partner/v1/referrals/{referral_id}", auth=auth)


async def _wait_readable(
    client: httpx.AsyncClient, referral_id: str, auth: tuple[str, str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while (response := await _read(client, referral_id, auth)).status_code == 404:
        assert time.monotonic() < deadline, "referral never projected"
        await asyncio.sleep(0.05)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _consent(
    family_id: str, purpose: ConsentPurpose, *, granted: bool, at: datetime
) -> ConsentChanged:
    return ConsentChanged(
        family_id=family_id,
        purpose=purpose,
        granted=granted,
        changed_at=at,
        consent_text_version="2025-09",
    )


async def test_wrong_or_missing_credentials_get_401_without_detail(
    admin: Admin, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    client_id, secret = await admin.credential(partner)
    url = f"/partner/v1/referrals/{uuid.uuid4()}"
    answers = [
        await client.get(url),
        await client.get(url, auth=(client_id, secret + "x")),
        await client.get(url, auth=("pc_" + "0" * 24, secret)),
        await client.get(url, auth=("not-an-id", secret)),
        await client.get(url, headers={"Authorization": "Bearer " + secret}),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert {a.text for a in answers} == {'{"detail":"not authenticated"}'}
    assert (await client.get(url, auth=(client_id, secret))).status_code == 404

    revoked = await client.delete(
        f"/partners/{partner}/credentials/{client_id}", headers=admin.headers
    )
    assert revoked.status_code == 204
    assert (await client.get(url, auth=(client_id, secret))).status_code == 401


async def test_an_admin_lists_a_partners_credentials_without_secrets(
    admin: Admin, client: httpx.AsyncClient
) -> None:
    partner = await admin.partner()
    first, first_secret = await admin.credential(partner)
    second, _ = await admin.credential(partner)
    await client.delete(f"/partners/{partner}/credentials/{first}", headers=admin.headers)
    listed = await client.get(f"/partners/{partner}/credentials", headers=admin.headers)
    assert listed.status_code == 200
    rows = listed.json()
    assert [(r["client_id"], r["revoked"]) for r in rows] == [(second, False), (first, True)]
    assert first_secret not in listed.text
    assert "secret" not in listed.text
    missing = await client.get(f"/partners/{uuid.uuid4()}/credentials", headers=admin.headers)
    assert missing.status_code == 404


async def test_a_partner_sees_only_its_own_referrals(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    mine, theirs = await admin.partner(), await admin.partner()
    me, them = await admin.credential(mine), await admin.credential(theirs)
    event = escalation(mine)
    await producer.send(event)
    body = await _wait_readable(client, event.referral_id, me)
    assert body["referral_id"] == event.referral_id
    assert body["status"] == "sent"

    other = await _read(client, event.referral_id, them)
    unknown = await _read(client, str(uuid.uuid4()), them)
    assert (other.status_code, other.text) == (unknown.status_code, unknown.text)
    assert other.status_code == 404
    posted = await client.post(
        f"/partner/v1/referrals/{event.referral_id}/status", json={"status": "accepted"}, auth=them
    )
    assert posted.status_code == 404


async def _wait_shared(
    client: httpx.AsyncClient, referral_id: str, auth: tuple[str, str], shared: bool
) -> dict[str, Any]:
    """Poll until the partner's answer shows `details_shared == shared` (events may lag)."""
    deadline = time.monotonic() + 15
    while (body := await _wait_readable(client, referral_id, auth))["details_shared"] != shared:
        assert time.monotonic() < deadline, f"details_shared never became {shared}"
        await asyncio.sleep(0.05)
    return body


async def test_details_follow_the_family_consent(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    partner = await admin.partner(PartnerKind.YOUTH_CARE)
    auth = await admin.credential(partner)
    registered = registration(granted=(ConsentPurpose.SHARE_YOUTH_CARE,))
    await producer.send(registered, source=INTAKE)
    event = escalation(
        partner,
        family_id=registered.family_id,
        kind=PartnerKind.YOUTH_CARE,
        legal_basis=LegalBasis.CONSENT,
    )
    await producer.send(event)
    shared = await _wait_shared(client, event.referral_id, auth, True)
    assert shared["urgency"] == "urgent"
    assert shared["reason_codes"] == ["safety", "parenting"]
    assert shared["legal_basis"] == "consent"
    assert shared["escalated_at"] is not None

    await producer.send(
        _consent(
            event.family_id,
            ConsentPurpose.SHARE_YOUTH_CARE,
            granted=False,
            at=datetime.now(UTC),
        ),
        source=INTAKE,
    )
    body = await _wait_shared(client, event.referral_id, auth, False)
    assert all(body[field] is None for field in GATED)
    assert body["referral_id"] == event.referral_id
    assert body["status"] == "sent"


async def test_a_withdrawal_older_than_the_registration_consent_does_not_count(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    partner = await admin.partner(PartnerKind.YOUTH_CARE)
    auth = await admin.credential(partner)
    registered = registration(granted=(ConsentPurpose.SHARE_YOUTH_CARE,))
    old = registered.registered_at - timedelta(days=1)
    await producer.send(
        _consent(registered.family_id, ConsentPurpose.SHARE_YOUTH_CARE, granted=False, at=old),
        source=INTAKE,
    )
    await producer.send(registered, source=INTAKE)
    event = escalation(partner, family_id=registered.family_id, kind=PartnerKind.YOUTH_CARE)
    await producer.send(event)
    await _wait_shared(client, event.referral_id, auth, True)


@pytest.mark.parametrize(
    ("kind", "shared"), [(PartnerKind.VEILIG_THUIS, True), (PartnerKind.POLICE, False)]
)
async def test_the_meldcode_override_shows_details_to_veilig_thuis_only(
    admin: Admin, client: httpx.AsyncClient, producer: Producer, kind: PartnerKind, shared: bool
) -> None:
    partner = await admin.partner(kind)
    auth = await admin.credential(partner)
    event = escalation(partner, kind=kind, legal_basis=LegalBasis.MELDCODE_OVERRIDE)
    await producer.send(event)
    body = await _wait_readable(client, event.referral_id, auth)
    assert body["details_shared"] is shared
    assert (body["legal_basis"] == "meldcode-override") is shared


async def test_the_gate_here_alone_ignores_the_kind_and_basis_an_event_claims(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    """Cases bypassed: escalation events as a faulty or forged producer could publish them.
    Issue 11's first two reproductions stay closed by notifications' own records alone."""
    youth_care = await admin.partner(PartnerKind.YOUTH_CARE)
    police = await admin.partner(PartnerKind.POLICE)
    yc_auth, police_auth = await admin.credential(youth_care), await admin.credential(police)
    registered = registration(granted=(ConsentPurpose.SHARE_POLICE,))
    await producer.send(registered, source=INTAKE)
    claimed_police = escalation(
        youth_care,
        family_id=registered.family_id,
        kind=PartnerKind.POLICE,
        legal_basis=LegalBasis.CONSENT,
    )
    unconsenting = registration()
    await producer.send(unconsenting, source=INTAKE)
    claimed_veilig_thuis = escalation(
        police,
        family_id=unconsenting.family_id,
        kind=PartnerKind.VEILIG_THUIS,
        legal_basis=LegalBasis.MELDCODE_OVERRIDE,
    )
    await producer.send(claimed_police)
    await producer.send(claimed_veilig_thuis)
    # The family's police consent is projected (the police partner sees a consented referral)...
    honest = escalation(police, family_id=registered.family_id, kind=PartnerKind.POLICE)
    await producer.send(honest)
    await _wait_shared(client, honest.referral_id, police_auth, True)
    # ...yet neither claimed kind opens anything.
    for referral_id, auth in (
        (claimed_police.referral_id, yc_auth),
        (claimed_veilig_thuis.referral_id, police_auth),
    ):
        body = await _wait_readable(client, referral_id, auth)
        assert body["details_shared"] is False
        assert all(body[field] is None for field in GATED)


async def test_a_kind_change_or_deactivation_applies_to_what_a_partner_reads_from_then_on(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    partner = await admin.partner(PartnerKind.YOUTH_CARE)
    auth = await admin.credential(partner)
    registered = registration(granted=(ConsentPurpose.SHARE_YOUTH_CARE,))
    await producer.send(registered, source=INTAKE)
    event = escalation(partner, family_id=registered.family_id, kind=PartnerKind.YOUTH_CARE)
    await producer.send(event)
    await _wait_shared(client, event.referral_id, auth, True)

    changed = await admin.change(partner, kind="police")
    assert (changed["kind"], changed["revision"]) == ("police", 2)
    assert (await _read(client, event.referral_id, auth)).json()["details_shared"] is False
    await admin.change(partner, kind="youth-care")
    assert (await _read(client, event.referral_id, auth)).json()["details_shared"] is True
    deactivated = await admin.change(partner, active=False)
    assert (deactivated["active"], deactivated["revision"]) == (False, 4)
    assert (await _read(client, event.referral_id, auth)).json()["details_shared"] is False


async def test_a_status_report_is_checked_and_published_for_cases(
    admin: Admin, client: httpx.AsyncClient, producer: Producer, kafka_bootstrap: str
) -> None:
    partner = await admin.partner()
    auth = await admin.credential(partner)
    event = escalation(partner)
    await producer.send(event)
    await _wait_readable(client, event.referral_id, auth)
    url = f"/partner/v1/referrals/{event.referral_id}/status"

    too_early = await client.post(url, json={"status": "closed"}, auth=auth)
    assert too_early.status_code == 409
    bad = await client.post(url, json={"status": "maybe", "outcome_code": "Not A Code"}, auth=auth)
    assert bad.status_code == 422
    assert bad.json()["fields"] == ["outcome_code", "status"]
    accepted = await client.post(url, json={"status": "accepted"}, auth=auth)
    assert accepted.status_code == 202, accepted.text
    assert (await client.post(url, json={"status": "accepted"}, auth=auth)).status_code == 409
    closed = await client.post(
        url, json={"status": "closed", "outcome_code": "support-started"}, auth=auth
    )
    assert closed.status_code == 202

    def reports(records: list[Any]) -> list[PartnerStatusReported]:
        found = [from_kafka(r.value, r.headers).data for r in records]
        return [
            e
            for e in found
            if isinstance(e, PartnerStatusReported) and e.referral_id == event.referral_id
        ]

    records = await read_topic_until(
        kafka_bootstrap, PARTNER_STATUS_REPORTED, lambda got: len(reports(got)) >= 2
    )
    got = reports(records)
    assert [(e.status.value, e.outcome_code) for e in got] == [
        ("accepted", None),
        ("closed", "support-started"),
    ]
    assert {(e.partner_id, e.family_id) for e in got} == {(partner, event.family_id)}
    assert all(r.key == event.family_id.encode() for r in records if reports([r]))
    body = (await _read(client, event.referral_id, auth)).json()
    assert (body["status"], body["outcome_code"]) == ("closed", "support-started")


async def test_a_referral_reaching_a_deactivated_partner_is_declined_not_delivered(
    admin: Admin,
    client: httpx.AsyncClient,
    producer: Producer,
    kafka_bootstrap: str,
    receiver: Receiver,
) -> None:
    """Cases sent before it learnt of the deactivation (the moment between the admin's PATCH
    here and cases' projection): nothing goes to the partner, and notifications answers the
    referral `declined` / `partner-inactive` for cases, once, however often it is delivered."""
    partner = await admin.partner(PartnerKind.WELFARE)
    auth = await admin.credential(partner)
    hook = path()
    await admin.endpoint(partner, receiver.url(hook))
    await admin.change(partner, active=False)
    event = escalation(partner, kind=PartnerKind.WELFARE)
    await producer.send(event)
    body = await _wait_readable(client, event.referral_id, auth)
    deadline = time.monotonic() + 15
    while body["status"] != "declined":
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)
        body = (await _read(client, event.referral_id, auth)).json()
    assert (body["status"], body["outcome_code"]) == ("declined", "partner-inactive")
    assert body["details_shared"] is False
    # A replay (new event id), then a marker on the same key: when the marker's answer is on
    # the topic, the replay (handled and relayed before it, per key) has had its chance.
    await producer.send(event)
    marker = escalation(partner, kind=PartnerKind.WELFARE, family_id=event.family_id)
    await producer.send(marker)

    def reports(records: list[Any]) -> list[PartnerStatusReported]:
        found = [from_kafka(r.value, r.headers).data for r in records]
        return [
            e
            for e in found
            if isinstance(e, PartnerStatusReported)
            and e.referral_id in (event.referral_id, marker.referral_id)
        ]

    records = await read_topic_until(
        kafka_bootstrap,
        PARTNER_STATUS_REPORTED,
        lambda got: any(e.referral_id == marker.referral_id for e in reports(got)),
        within=30,
    )
    got = [(e.referral_id, e.status.value, e.outcome_code, e.partner_id) for e in reports(records)]
    assert got == [
        (event.referral_id, "declined", "partner-inactive", partner),
        (marker.referral_id, "declined", "partner-inactive", partner),
    ]
    assert [r for r in receiver.at(hook) if json.loads(r.body)["type"] != "webhook.test"] == []


async def test_no_answer_links_two_referrals_of_a_family_without_consent(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    """Issue 11: `case_id` let a partner link referrals of one family. Now only a per-partner
    family reference links them, and only with the details (consent for its kind)."""
    youth_care, welfare = (
        await admin.partner(PartnerKind.YOUTH_CARE),
        await admin.partner(PartnerKind.WELFARE),
    )
    yc, wf = await admin.credential(youth_care), await admin.credential(welfare)
    registered = registration(granted=(ConsentPurpose.SHARE_YOUTH_CARE,))
    await producer.send(registered, source=INTAKE)
    events = {
        (partner, n): escalation(partner, family_id=registered.family_id)
        for partner in (youth_care, welfare)
        for n in range(2)
    }
    for event in events.values():
        await producer.send(event)
    shared = [
        await _wait_shared(client, events[youth_care, n].referral_id, yc, True) for n in range(2)
    ]
    hidden = [await _wait_readable(client, events[welfare, n].referral_id, wf) for n in range(2)]
    assert shared[0]["family_reference"] == shared[1]["family_reference"]
    assert shared[0]["family_reference"].startswith("fam_")
    assert registered.family_id not in json.dumps(shared)
    for body in hidden:
        assert body["details_shared"] is False
        assert body["family_reference"] is None
        assert "case_id" not in body
    # Nothing else in the two unconsented answers is shared between them except the status.
    common = {k for k in hidden[0] if hidden[0][k] == hidden[1][k] and hidden[0][k] is not None}
    assert common == {"status", "details_shared"}


async def test_the_reconciliation_list_pages_what_changed_for_the_caller(
    admin: Admin, client: httpx.AsyncClient, producer: Producer
) -> None:
    partner, other = await admin.partner(), await admin.partner()
    auth, other_auth = await admin.credential(partner), await admin.credential(other)
    start = datetime.now(UTC)
    events = [escalation(partner) for _ in range(5)]
    for event in events:
        await producer.send(event)
    await producer.send(escalation(other))
    for event in events:
        await _wait_readable(client, event.referral_id, auth)
    accepted = await client.post(
        f"/partner/v1/referrals/{events[0].referral_id}/status",
        json={"status": "accepted"},
        auth=auth,
    )
    assert accepted.status_code == 202

    listed: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"since": start.isoformat(), "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = await client.get("/partner/v1/referrals", params=params, auth=auth)
        assert page.status_code == 200, page.text
        listed += page.json()["results"]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    ids = [entry["referral_id"] for entry in listed]
    # Each once, oldest change first: the accepted one moved to the end.
    assert sorted(ids) == sorted(e.referral_id for e in events)
    assert ids[-1] == events[0].referral_id
    changed = [entry["changed_at"] for entry in listed]
    assert changed == sorted(changed)
    assert listed[-1]["status"] == "accepted"
    assert listed[-1]["url"].endswith(f"/partner/v1/referrals/{events[0].referral_id}")
    assert set(listed[0]) == {"referral_id", "status", "changed_at", "url"}

    later = listed[-1]["changed_at"]
    tail = await client.get("/partner/v1/referrals", params={"since": later}, auth=auth)
    assert [e["referral_id"] for e in tail.json()["results"]] == [events[0].referral_id]
    theirs = await client.get(
        "/partner/v1/referrals", params={"since": start.isoformat()}, auth=other_auth
    )
    assert {e["referral_id"] for e in theirs.json()["results"]}.isdisjoint(ids)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-ours"}, "cursor"),
        ({"since": "2026-03-01T00:00:00"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
    ],
)
async def test_bad_reconciliation_queries_are_422(
    admin: Admin, client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    auth = await admin.credential(await admin.partner())
    response = await client.get("/partner/v1/referrals", params=params, auth=auth)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == [field]
    assert (await client.get("/partner/v1/referrals")).status_code == 401
