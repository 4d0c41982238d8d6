"""Plan, closure, caseloads, reassignment and partner status over the real broker (integration)."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_cases.domain import local_today
from alamal_cases.domain.referrals import ReferralState
from alamal_cases.referral_store import get_referral, get_referral_in
from alamal_contracts.codes import PartnerKind, ReferralStatus, Wijk
from alamal_contracts.events import FamilyReassigned, PartnerStatusReported
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import CASE_CLOSED, GOAL_UPDATED, REFERRAL_UPDATED
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

from .conftest import (
    Caller,
    Producer,
    kafka_record,
    registration,
    seed_case,
    seed_partner,
    wait_for_cases,
)

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]
PLANTED = "Planted-Goal-Words-5521"
ORDERED = 0


async def eventually[T](probe: Callable[[], Awaitable[T | None]], within: float = 20.0) -> T:
    """Poll `probe` until it returns something; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (found := await probe()) is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing within {within}s")


def schema_valid(topic: str, value: bytes) -> dict[str, Any]:
    """The record's data, validated against the topic's committed JSON Schema."""
    data: dict[str, Any] = json.loads(value)
    schema = json.loads((DEFAULT_DIR / filename(topic)).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    return data


async def test_a_plan_with_strengths_and_goals(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    base = f"/cases/{case.id}/plan"

    empty = await client.get(base, headers=trusted.headers)
    assert empty.status_code == 200
    assert empty.json() == {"case_id": case.id, "strengths": None, "goals": []}

    put = await client.put(
        f"{base}/strengths",
        json={"items": ["Warm family", "Mother speaks Dutch well"]},
        headers=trusted.headers,
    )
    assert put.status_code == 200, put.text
    created = await client.post(
        f"{base}/goals", json={"area": "school", "description": PLANTED}, headers=trusted.headers
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    assert goal["status"] == "open"
    changed = await client.patch(
        f"{base}/goals/{goal['id']}",
        json={"status": "reached", "note": "Goes to school daily"},
        headers=trusted.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["revision"] == 2

    plan = (await client.get(base, headers=trusted.headers)).json()
    assert plan["strengths"]["items"] == ["Warm family", "Mother speaks Dutch well"]
    (stored,) = plan["goals"]
    assert stored["status"] == "reached"
    assert [n["text"] for n in stored["progress_notes"]] == ["Goes to school daily"]

    key = case.family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, GOAL_UPDATED, lambda rs: sum(r.key == key for r in rs) >= 2
    )
    ours = [r for r in records if r.key == key]
    assert [schema_valid(GOAL_UPDATED, r.value)["status"] for r in ours] == ["open", "reached"]
    assert all(PLANTED.encode() not in r.value and b"school daily" not in r.value for r in ours)


async def test_plan_errors_are_clear(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    base = f"/cases/{case.id}/plan"
    bad_area = await client.post(
        f"{base}/goals", json={"area": "gardening", "description": "x"}, headers=trusted.headers
    )
    assert bad_area.status_code == 422
    assert bad_area.json()["fields"] == ["area"]
    goal = (
        await client.post(
            f"{base}/goals",
            json={"area": "money", "description": "Budget"},
            headers=trusted.headers,
        )
    ).json()
    empty = await client.patch(f"{base}/goals/{goal['id']}", json={}, headers=trusted.headers)
    assert empty.status_code == 422
    assert empty.json()["fields"] == ["status"]
    await client.patch(
        f"{base}/goals/{goal['id']}", json={"status": "stopped"}, headers=trusted.headers
    )
    illegal = await client.patch(
        f"{base}/goals/{goal['id']}", json={"status": "reached"}, headers=trusted.headers
    )
    assert illegal.status_code == 409
    missing = await client.patch(
        f"{base}/goals/{uuid.uuid4()}", json={"note": "x"}, headers=trusted.headers
    )
    assert missing.status_code == 404
    other = caller(Role.TRUSTED_PERSON)
    assert (await client.get(base, headers=other.headers)).status_code == 404


async def test_closing_a_case_emits_its_outcome_and_drops_it_from_work_lists(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    overdue_day = (local_today(datetime.now(UTC)) - timedelta(days=5)).isoformat()
    logged = await client.post(
        f"/cases/{case.id}/visits",
        json={
            "kind": "phone",
            "occurred_on": (local_today(datetime.now(UTC)) - timedelta(days=10)).isoformat(),
            "duration_minutes": 10,
            "follow_up_on": overdue_day,
        },
        headers=trusted.headers,
    )
    assert logged.status_code == 201, logged.text
    overdue = (await client.get("/follow-ups/overdue", headers=trusted.headers)).json()
    assert [o["case_id"] for o in overdue] == [case.id]
    load = (await client.get("/caseload", headers=trusted.headers)).json()
    assert [(e["case_id"], e["days_overdue"]) for e in load] == [(case.id, 5)]

    father_tp = caller(Role.TRUSTED_PERSON)
    assert (
        await client.post(
            f"/cases/{case.id}/close", json={"outcome_codes": ["x"]}, headers=father_tp.headers
        )
    ).status_code == 404
    bad = await client.post(
        f"/cases/{case.id}/close", json={"outcome_codes": []}, headers=trusted.headers
    )
    assert bad.status_code == 422
    closed = await client.post(
        f"/cases/{case.id}/close",
        json={"outcome_codes": ["goals-reached", "referred-on"]},
        headers=trusted.headers,
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    again = await client.post(
        f"/cases/{case.id}/close", json={"outcome_codes": ["x"]}, headers=trusted.headers
    )
    assert again.status_code == 409

    assert (await client.get("/follow-ups/overdue", headers=trusted.headers)).json() == []
    assert (await client.get("/caseload", headers=trusted.headers)).json() == []
    late_visit = await client.post(
        f"/cases/{case.id}/visits",
        json={"kind": "phone", "occurred_on": overdue_day, "duration_minutes": 5},
        headers=trusted.headers,
    )
    assert late_visit.status_code == 409

    key = case.family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, CASE_CLOSED, lambda rs: any(r.key == key for r in rs)
    )
    (record,) = [r for r in records if r.key == key]
    data = schema_valid(CASE_CLOSED, record.value)
    assert data["outcome_codes"] == ["goals-reached", "referred-on"]
    assert dict(record.headers)["ce_type"] == b"nl.alamal.cases.case-closed.v1"


async def test_caseloads_per_trusted_person_for_a_coordinator(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    coordinator = caller(Role.COORDINATOR, wijken={"vleuten-de-meern"})
    amina, khadija = caller(Role.TRUSTED_PERSON), caller(Role.TRUSTED_PERSON)
    for holder in (amina, amina, khadija):
        await seed_case(cases_store, holder=holder.user_id, wijk=Wijk.VLEUTEN_DE_MEERN)
    loads = (await client.get("/caseloads", headers=coordinator.headers)).json()
    assert {(x["trusted_person_id"], x["open_cases"]) for x in loads} == {
        (amina.user_id, 2),
        (khadija.user_id, 1),
    }
    assert (await client.get("/caseloads", headers=amina.headers)).status_code == 403
    outside = await client.get("/caseload", params={"wijk": "west"}, headers=coordinator.headers)
    assert outside.status_code == 403
    mine = (await client.get("/caseload", headers=coordinator.headers)).json()
    assert len(mine) == 3


async def test_reassignments_in_any_order_end_with_the_latest(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller
) -> None:
    first, second, third = (caller(Role.TRUSTED_PERSON) for _ in range(3))
    father_tp = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=first.user_id)
    at = registered.registered_at
    moves = [
        FamilyReassigned(
            family_id=registered.family_id,
            trusted_person_id=second.user_id,
            previous_trusted_person_id=first.user_id,
            reassigned_at=at + timedelta(minutes=1),
        ),
        FamilyReassigned(
            family_id=registered.family_id,
            trusted_person_id=third.user_id,
            father_trusted_person_id=father_tp.user_id,
            previous_trusted_person_id=second.user_id,
            reassigned_at=at + timedelta(minutes=2),
        ),
    ]
    # Shuffled and duplicated, the latest reassignment even before the registration.
    stream = [kafka_record(moves[1]), kafka_record(registered), kafka_record(moves[0])]
    stream.append(stream[0])
    random.Random(7).shuffle(stream)
    for record in stream:
        await producer.send(record, partition=ORDERED)

    (case,) = await wait_for_cases(client, third, registered.family_id)
    assert case["trusted_person_id"] == third.user_id
    assert case["father_trusted_person_id"] == father_tp.user_id
    for gone in (first, second):
        assert (await client.get(f"/cases/{case['id']}", headers=gone.headers)).status_code == 404
    father_view = await client.get("/caseload", headers=father_tp.headers)
    assert [e["case_id"] for e in father_view.json()] == [case["id"]]


async def test_a_partner_status_from_notifications_is_applied_once(
    client: httpx.AsyncClient,
    cases_store: Store,
    producer: Producer,
    caller: MakeCaller,
    kafka_bootstrap: str,
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    veilig_thuis = await seed_partner(cases_store, PartnerKind.VEILIG_THUIS)
    proposed = await client.post(
        f"/cases/{case.id}/referrals",
        json={
            "partner_id": veilig_thuis,
            "urgency": "acute",
            "reason_codes": ["child-safety"],
        },
        headers=trusted.headers,
    )
    assert proposed.status_code == 201, proposed.text
    referral = proposed.json()
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    override = await client.post(
        f"/referrals/{referral['id']}/meldcode-override",
        json={"reason_code": "acute-danger"},
        headers=coordinator.headers,
    )
    assert override.status_code == 200, override.text
    sent = await client.post(f"/referrals/{referral['id']}/send", headers=trusted.headers)
    assert sent.status_code == 200, sent.text

    reported = PartnerStatusReported(
        family_id=case.family_id,
        referral_id=referral["id"],
        partner_id=referral["partner_id"],
        status=ReferralStatus.ACCEPTED,
        reported_at=datetime.now(UTC),
    )
    record = kafka_record(reported, source="/alamal/notifications")
    await producer.send(record)
    await producer.send(record)  # delivered twice: applied once

    async def accepted() -> bool | None:
        found = await get_referral(cases_store, referral["id"])
        return True if found is not None and found.state is ReferralState.ACCEPTED else None

    await eventually(accepted)
    key = case.family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, REFERRAL_UPDATED, lambda rs: any(r.key == key for r in rs), within=5
    )
    updates = [schema_valid(REFERRAL_UPDATED, r.value) for r in records if r.key == key]
    assert [u["status"] for u in updates] == ["accepted"]
    async with cases_store.transaction() as uow:
        found = await get_referral_in(uow, referral["id"])
    assert found is not None
    assert found[1] == 4  # proposed, override, sent, accepted: no second application


async def test_reads_of_notes_plan_and_referrals_are_audited(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    outsider = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id, wijk=Wijk.ZUID)
    why = {"X-Access-Reason": "home-visit-prep"}
    for path in (f"/cases/{case.id}/visits", f"/cases/{case.id}/plan"):
        assert (await client.get(path, headers=trusted.headers | why)).status_code == 200
    assert (
        await client.get(f"/cases/{case.id}/referrals", headers=outsider.headers)
    ).status_code == 404
    bad_reason = await client.get(
        f"/cases/{case.id}/plan", headers=trusted.headers | {"X-Access-Reason": "Not A Code"}
    )
    assert bad_reason.status_code == 422

    coordinator = caller(Role.COORDINATOR, wijken={"zuid"})
    audit = await client.get(
        "/audit", params={"family_id": case.family_id}, headers=coordinator.headers
    )
    assert audit.status_code == 200, audit.text
    seen = {(r["user_id"], r["action"], r["outcome"], r["reason"]) for r in audit.json()["records"]}
    assert seen == {
        (trusted.user_id, "read-visits", "allowed", "home-visit-prep"),
        (trusted.user_id, "read-plan", "allowed", "home-visit-prep"),
        (outsider.user_id, "read-referrals", "denied-or-missing", "casework"),
    }
    elsewhere = caller(Role.COORDINATOR, wijken={"west"})
    assert (
        await client.get("/audit", params={"family_id": case.family_id}, headers=elsewhere.headers)
    ).status_code == 404
    assert (
        await client.get("/audit", params={"family_id": case.family_id}, headers=trusted.headers)
    ).status_code == 403
