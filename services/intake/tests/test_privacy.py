"""Intake's privacy API on the real broker and SQLite: export, erasure with four eyes, legal
hold, the tombstone and the other services' confirmations (integration)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from alamal_contracts.codes import LegalBasis, PartnerKind, Urgency
from alamal_contracts.envelope import from_kafka, to_kafka
from alamal_contracts.events import (
    CONFIRMATIONS,
    EventBase,
    FamilyErasureRequested,
    ReferralEscalated,
)
from alamal_contracts.topics import FAMILY_ERASURE_REQUESTED
from alamal_intake.privacy.store import ERASURE_REQUESTS
from alamal_intake.store import FAMILIES
from alamal_runtime.audit import ACCESS_AUDIT
from alamal_runtime.auth import Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.sealing import DATA_KEYS
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

from .conftest import ERASURE_ALERT_SECONDS, PLANTED_BIRTH_YEARS, PLANTED_NAMES, Caller, family_body

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]
ERASURE = {"reason": "family-request", "basis": "consent-withdrawn"}
PLANTED_CONTACT = {
    "phone": "+31 6 9911 2288",
    "notes": "Planted-note-9f3c",
    "address": {
        "street": "Planted-straat",
        "house_number": "77b",
        "postcode": "3563 XZ",
        "city": "Utrecht",
    },
}


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """Publishes the other services' events (cases, notifications, reporting) by hand."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def publish(producer: AIOKafkaProducer, event: EventBase, *, event_id: str) -> None:
    """Publish a contract event as its producing service's relay would."""
    record = to_kafka(event, event_id=event_id, source="/alamal/test", time=datetime.now(UTC))
    await producer.send_and_wait(
        record.topic, value=record.value, key=record.key.encode(), headers=list(record.headers)
    )


async def registered_with_contact(client: httpx.AsyncClient, holder: Caller) -> str:
    """A family of `holder` in Overvecht with the planted names, address, phone and notes."""
    response = await client.post("/families", json=family_body(), headers=holder.headers)
    assert response.status_code == 201, response.text
    family_id: str = response.json()["id"]
    changed = await client.patch(
        f"/families/{family_id}",
        json=PLANTED_CONTACT,
        headers={**holder.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    return family_id


async def requested(client: httpx.AsyncClient, officer: Caller, family_id: str) -> dict[str, Any]:
    """Record an erasure request as `officer`; return it."""
    response = await client.post(
        "/privacy/erasures", json={"family_id": family_id, **ERASURE}, headers=officer.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def audit_of(store: Store, family_id: str) -> list[tuple[str, str, str]]:
    """(role, action, outcome) of the family's audit records, oldest first."""
    records = await store.find(ACCESS_AUDIT, {"family_id": family_id}, order_by="at", limit=1000)
    return [(r.data["role"], r.data["action"], r.data["outcome"]) for r in records]


async def test_the_export_holds_everything_intake_keeps_and_only_officers_get_it(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    family_id = await registered_with_contact(client, holder)
    officer = caller(Role.PRIVACY_OFFICER)
    response = await client.get(f"/privacy/families/{family_id}/export", headers=officer.headers)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["service"] == "intake"
    assert export["family_id"] == family_id
    text = response.text
    for value in (*PLANTED_NAMES, "+31 6 9911 2288", "Planted-note-9f3c", "Planted-straat"):
        assert value in text
    family = export["sections"]["family"]
    assert sorted(m["birth_year"] for m in family["members"]) == sorted(PLANTED_BIRTH_YEARS)
    assert [c["purpose"] for c in family["consents"]] == ["care", "reporting"]  # the history
    actions = [a["action"] for a in export["sections"]["access_audit"]]
    assert {"register-family", "update-family", "export-family"} <= set(actions)
    assert export["sections"]["legal_hold"] is None

    for role in (Role.COORDINATOR, Role.TRUSTED_PERSON, Role.ADMIN, Role.OPERATOR, Role.FUNDER):
        other = caller(role, wijken={"overvecht"})
        refused = await client.get(f"/privacy/families/{family_id}/export", headers=other.headers)
        assert refused.status_code == 403, role
        assert "Fatima" not in refused.text
    refusals = [a for a in await audit_of(intake_store, family_id) if a[1] == "export-family"]
    assert sorted(refusals) == sorted(
        [("privacy_officer", "export-family", "allowed")]
        + [
            (role, "export-family", "denied-or-missing")
            for role in ("coordinator", "trusted_person", "admin", "operator", "funder")
        ]
    )
    unknown = await client.get(f"/privacy/families/{uuid.uuid4()}/export", headers=officer.headers)
    assert unknown.status_code == 404


async def test_a_privacy_officer_finds_a_family_by_name_others_may_not(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    surname = f"Zq{uuid.uuid4().hex[:10]}"
    members = [{"role": "mother", "birth_year": 1990, "first_name": "Noor", "surname": surname}]
    created = await client.post(
        "/families", json=family_body(members=members, wijk="west"), headers=holder.headers
    )
    assert created.status_code == 201, created.text
    officer = caller(Role.PRIVACY_OFFICER)
    found = await client.get(
        "/privacy/families", params={"name": surname.lower()}, headers=officer.headers
    )
    assert found.status_code == 200, found.text
    assert found.json()["results"] == [
        {
            "family_id": created.json()["id"],
            "wijk": "west",
            "registered_at": created.json()["registered_at"].replace("+00:00", "Z"),
            "members": [f"Noor {surname} (1990)"],
        }
    ]
    coordinator = caller(Role.COORDINATOR, wijken={"west"})
    refused = await client.get(
        "/privacy/families", params={"name": surname}, headers=coordinator.headers
    )
    assert refused.status_code == 403


async def test_the_privacy_officers_view_of_one_family_known_unknown_erased(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    family_id = await registered_with_contact(client, holder)
    officer = caller(Role.PRIVACY_OFFICER)
    shown = await client.get(f"/privacy/families/{family_id}", headers=officer.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["family_id"] == family_id
    mother, surname, child = PLANTED_NAMES
    mother_year, child_year = PLANTED_BIRTH_YEARS
    assert sorted(shown.json()["members"]) == sorted(
        [f"{mother} {surname} ({mother_year})", f"{child} ({child_year})"]
    )
    assert shown.json()["wijk"] == "overvecht"
    for role in (Role.COORDINATOR, Role.TRUSTED_PERSON, Role.ADMIN):
        other = caller(role, wijken={"overvecht"})
        refused = await client.get(f"/privacy/families/{family_id}", headers=other.headers)
        assert refused.status_code == 403, role
        assert PLANTED_NAMES[0] not in refused.text
    searched = [a for a in await audit_of(intake_store, family_id) if a[1] == "privacy-search"]
    assert sorted(searched) == sorted(
        [("privacy_officer", "privacy-search", "allowed")]
        + [
            (r, "privacy-search", "denied-or-missing")
            for r in ("coordinator", "trusted_person", "admin")
        ]
    )
    nobody = str(uuid.uuid4())
    unknown = await client.get(f"/privacy/families/{nobody}", headers=officer.headers)
    assert unknown.status_code == 404
    assert await audit_of(intake_store, nobody) == [
        ("privacy_officer", "privacy-search", "denied-or-missing")
    ]
    request = await requested(client, officer, family_id)
    approved = await client.post(
        f"/privacy/erasures/{request['id']}/approve",
        headers=caller(Role.PRIVACY_OFFICER).headers,
    )
    assert approved.status_code == 200, approved.text
    gone = await client.get(f"/privacy/families/{family_id}", headers=officer.headers)
    assert gone.status_code == 410
    assert PLANTED_NAMES[0] not in gone.text


async def test_erasure_needs_a_second_person_then_erases_intake_and_announces_it(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store, kafka_bootstrap: str
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    family_id = await registered_with_contact(client, holder)
    officer = caller(Role.PRIVACY_OFFICER)
    request = await requested(client, officer, family_id)
    assert request["state"] == "requested"
    assert request["wijk"] == "overvecht"
    again = await client.post(
        "/privacy/erasures", json={"family_id": family_id, **ERASURE}, headers=officer.headers
    )
    assert again.status_code == 409
    assert again.json()["detail"].startswith("pending:")
    approve = f"/privacy/erasures/{request['id']}/approve"

    own = await client.post(approve, headers=officer.headers)
    assert own.status_code == 403
    assert own.json()["detail"].startswith("four-eyes:")
    elsewhere = caller(Role.COORDINATOR, wijken={"west"})
    assert (await client.post(approve, headers=elsewhere.headers)).status_code == 404
    assert (await client.post(approve, headers=holder.headers)).status_code == 403
    assert (await client.get(f"/families/{family_id}", headers=holder.headers)).status_code == 200

    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    waiting = await client.get("/privacy/erasures", headers=coordinator.headers)
    assert request["id"] in [r["id"] for r in waiting.json()["results"]]
    approved = await client.post(approve, headers=coordinator.headers)
    assert approved.status_code == 200, approved.text
    tombstone = approved.json()
    assert tombstone["state"] == "erasing"
    assert tombstone["wijk"] is None
    assert tombstone["decided_by"] == coordinator.user_id
    assert [(s["service"], s["confirmed_at"] is not None) for s in tombstone["services"]] == [
        ("intake", True),
        ("cases", False),
        ("notifications", False),
        ("reporting", False),
    ]

    # Intake refuses the id from then on.
    assert (await client.get(f"/families/{family_id}", headers=holder.headers)).status_code == 404
    gone = await client.get(f"/privacy/families/{family_id}/export", headers=officer.headers)
    assert gone.status_code == 410
    twice = await client.post(
        "/privacy/erasures", json={"family_id": family_id, **ERASURE}, headers=officer.headers
    )
    assert twice.status_code == 409
    assert twice.json()["detail"].startswith("erased:")
    assert (
        await client.post(approve, headers=caller(Role.PRIVACY_OFFICER).headers)
    ).status_code == 409

    # What stays: the tombstone (ids, codes, dates), the marker, and who approved.
    assert await intake_store.get(FAMILIES, family_id) is None
    assert await intake_store.get(ERASED_FAMILIES, family_id) is not None
    key_record = await intake_store.get(DATA_KEYS, family_id)
    assert key_record is not None
    assert set(key_record.data) == {"destroyed_at"}  # crypto-shredded: backups stay unreadable
    stored = await intake_store.get(ERASURE_REQUESTS, request["id"])
    assert stored is not None
    assert set(stored.data) == {
        "family_id", "reason", "basis", "requested_by", "requested_at", "state", "wijk",
        "decided_by", "decided_at", "confirmations", "completed_at",
    }  # fmt: skip
    kept = json.dumps(stored.data)
    for value in (*PLANTED_NAMES, "Planted", "+31 6", "overvecht"):
        assert value not in kept
    assert (await audit_of(intake_store, family_id))[0] == (
        "coordinator",
        "approve-erasure",
        "allowed",
    )

    key = family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, FAMILY_ERASURE_REQUESTED, lambda rs: any(r.key == key for r in rs)
    )
    ours = [r for r in records if r.key == key]
    assert len(ours) == 1
    event = from_kafka(ours[0].value, ours[0].headers, expect=FamilyErasureRequested).data
    assert (event.family_id, event.request_id) == (family_id, request["id"])


async def test_confirmations_complete_the_tombstone_once_and_late_ones_are_overdue(
    client: httpx.AsyncClient, caller: MakeCaller, producer: AIOKafkaProducer
) -> None:
    family_id = await registered_with_contact(client, caller(Role.TRUSTED_PERSON))
    officer, second = caller(Role.PRIVACY_OFFICER), caller(Role.PRIVACY_OFFICER)
    request = await requested(client, officer, family_id)
    approved = await client.post(
        f"/privacy/erasures/{request['id']}/approve", headers=second.headers
    )
    assert approved.status_code == 200, approved.text
    status_url = f"/privacy/erasures/{request['id']}"
    operator = caller(Role.OPERATOR)

    async def status() -> dict[str, Any]:
        response = await client.get(status_url, headers=officer.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    cases_confirmation, *others = CONFIRMATIONS
    first_id = str(uuid.uuid4())
    await publish(
        producer,
        cases_confirmation(family_id=family_id, request_id=request["id"]),
        event_id=first_id,
    )
    await wait_until(lambda s: s["services"][1]["confirmed_at"] is not None, status)
    await asyncio.sleep(ERASURE_ALERT_SECONDS)
    late = await status()
    assert [s["service"] for s in late["services"] if s["overdue"]] == [
        "notifications",
        "reporting",
    ]
    health = await client.get("/ops/erasures", headers=operator.headers)
    assert health.status_code == 200
    ours = [o for o in health.json()["overdue"] if o["request_id"] == request["id"]]
    assert ours == [
        {
            "request_id": request["id"],
            "approved_at": late["decided_at"],
            "waiting_for": ["notifications", "reporting"],
        }
    ]
    assert (await client.get("/ops/erasures", headers=officer.headers)).status_code == 403

    # A redelivered confirmation changes nothing; the last one completes the erasure.
    for confirmation in others:
        await publish(
            producer,
            confirmation(family_id=family_id, request_id=request["id"]),
            event_id=str(uuid.uuid4()),
        )
    await publish(
        producer,
        cases_confirmation(family_id=family_id, request_id=request["id"]),
        event_id=first_id,
    )
    done = await wait_until(lambda s: s["state"] == "erased", status)
    assert done["completed_at"] is not None
    assert done["services"][1]["confirmed_at"] == late["services"][1]["confirmed_at"]
    assert not any(s["overdue"] for s in done["services"])
    log = await client.get("/privacy/erasures?state=erased", headers=officer.headers)
    assert request["id"] in [r["id"] for r in log.json()["results"]]


async def test_a_report_to_veilig_thuis_puts_the_family_on_legal_hold(
    client: httpx.AsyncClient, caller: MakeCaller, producer: AIOKafkaProducer
) -> None:
    family_id = await registered_with_contact(client, caller(Role.TRUSTED_PERSON))
    officer = caller(Role.PRIVACY_OFFICER)
    request = await requested(client, officer, family_id)  # before the report
    report = ReferralEscalated(
        family_id=family_id,
        referral_id=str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        partner_id=str(uuid.uuid4()),
        partner_kind=PartnerKind.VEILIG_THUIS,
        urgency=Urgency.ACUTE,
        reason_codes=("child-safety",),
        legal_basis=LegalBasis.MELDCODE_OVERRIDE,
        escalated_at=datetime.now(UTC),
    )
    await publish(producer, report, event_id=str(uuid.uuid4()))

    async def export() -> dict[str, Any]:
        response = await client.get(
            f"/privacy/families/{family_id}/export", headers=officer.headers
        )
        body: dict[str, Any] = response.json()
        return body

    held = await wait_until(lambda e: e["sections"]["legal_hold"] is not None, export)
    assert held["sections"]["legal_hold"]["reason"] == "meldcode-report"
    refused = await client.post(
        f"/privacy/erasures/{request['id']}/approve", headers=caller(Role.PRIVACY_OFFICER).headers
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("legal-hold:meldcode-report:")
    withdrawn = await client.post(
        f"/privacy/erasures/{request['id']}/reject", headers=officer.headers
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "rejected"
    again = await client.post(
        "/privacy/erasures", json={"family_id": family_id, **ERASURE}, headers=officer.headers
    )
    assert again.status_code == 409
    assert again.json()["detail"].startswith("legal-hold:meldcode-report:")
    # A referral to another kind of partner is no legal hold.
    other = await registered_with_contact(client, caller(Role.TRUSTED_PERSON))
    await publish(
        producer,
        report.model_copy(update={"family_id": other, "partner_kind": PartnerKind.SCHOOL}),
        event_id=str(uuid.uuid4()),
    )
    await requested(client, officer, other)


async def test_bad_erasure_input_gets_clear_answers(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    officer = caller(Role.PRIVACY_OFFICER)
    unknown = str(uuid.uuid4())
    missing = await client.post(
        "/privacy/erasures", json={"family_id": unknown, **ERASURE}, headers=officer.headers
    )
    assert missing.status_code == 404
    bad = await client.post(
        "/privacy/erasures",
        json={"family_id": unknown, "reason": "because", "basis": "consent-withdrawn"},
        headers=officer.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["fields"] == ["reason"]
    no_request = await client.post(
        f"/privacy/erasures/{uuid.uuid4()}/approve", headers=officer.headers
    )
    assert no_request.status_code == 404
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    refused = await client.post(
        "/privacy/erasures", json={"family_id": unknown, **ERASURE}, headers=coordinator.headers
    )
    assert refused.status_code == 403
    assert ("coordinator", "request-erasure", "denied-or-missing") in await audit_of(
        intake_store, unknown
    )


async def wait_until[T](
    done: Callable[[T], bool], read: Callable[[], Any], *, within: float = 20.0
) -> T:
    """Poll `read()` until `done` holds for its answer; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value: T = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {within}s: {value}")
        await asyncio.sleep(0.1)
