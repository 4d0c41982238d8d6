"""Visits sent from a device's offline queue: one visit per key, conflicts held (integration).

Against the service in-process on the real broker and a real SQLite store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alamal_cases.domain import CaseStatus
from alamal_contracts.events import FamilyReassigned
from alamal_contracts.topics import VISIT_LOGGED
from alamal_runtime.audit import ACCESS_AUDIT
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

from .conftest import Caller, Producer, kafka_record, registration, seed_case, wait_for_cases
from .test_visits_api import today, visit_body

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]


def device_key() -> str:
    """A key as a device makes one (a random UUID)."""
    return str(uuid.uuid4())


def offline_body(**change: Any) -> dict[str, Any]:
    """A visit a device saved offline an hour ago."""
    captured = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return visit_body(captured_offline_at=captured, **change)


async def send(
    client: httpx.AsyncClient,
    caller: Caller,
    case_id: str,
    body: dict[str, Any],
    key: str | None,
) -> httpx.Response:
    """POST a visit with the device's key (no header when `key` is None)."""
    headers = dict(caller.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(f"/cases/{case_id}/visits", json=body, headers=headers)


async def visits_on(client: httpx.AsyncClient, caller: Caller, case_id: str) -> list[Any]:
    """Every visit on the case as `caller` sees them."""
    listed = await client.get(f"/cases/{case_id}/visits", headers=caller.headers)
    assert listed.status_code == 200, listed.text
    results: list[Any] = listed.json()["results"]
    return results


async def test_a_visit_sent_twice_with_one_key_exists_once_and_answers_the_first_result(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    key, body = device_key(), offline_body()

    first = await send(client, trusted, case.id, body, key)
    again = await send(client, trusted, case.id, body, key)

    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    (stored,) = await visits_on(client, trusted, case.id)
    assert stored["id"] == first.json()["id"]
    assert stored["private_note"] == body["private_note"]


async def test_twin_requests_at_the_same_moment_make_one_visit(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    key, body = device_key(), offline_body()

    answers = await asyncio.gather(*(send(client, trusted, case.id, body, key) for _ in range(5)))

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await visits_on(client, trusted, case.id)) == 1


async def test_the_event_of_a_retried_visit_is_published_once(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    key, body = device_key(), offline_body()
    visit_id = (await send(client, trusted, case.id, body, key)).json()["id"]
    assert (await send(client, trusted, case.id, body, key)).status_code == 201
    marker = await send(client, trusted, case.id, offline_body(duration_minutes=5), device_key())
    assert marker.status_code == 201

    records = await read_topic_until(
        kafka_bootstrap,
        VISIT_LOGGED,
        lambda rs: any(marker.json()["id"].encode() in r.value for r in rs),
    )
    assert sum(visit_id.encode() in r.value for r in records) == 1


async def test_a_first_try_sent_online_and_its_retry_from_the_queue_are_one_visit(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    key = device_key()
    first = await send(client, trusted, case.id, visit_body(), key)
    retry = await send(client, trusted, case.id, offline_body(), key)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert len(await visits_on(client, trusted, case.id)) == 1


async def test_one_key_with_another_visit_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    key = device_key()
    assert (await send(client, trusted, case.id, offline_body(), key)).status_code == 201

    other = await send(client, trusted, case.id, offline_body(duration_minutes=10), key)

    assert other.status_code == 422
    assert other.json()["fields"] == ["Idempotency-Key"]
    assert [v["duration_minutes"] for v in await visits_on(client, trusted, case.id)] == [45]


async def test_keys_belong_to_their_user(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    key, body = device_key(), offline_body()

    mine = await send(client, trusted, case.id, body, key)
    hers = await send(client, coordinator, case.id, body, key)

    assert mine.status_code == hers.status_code == 201
    assert mine.json()["id"] != hers.json()["id"]
    assert hers.json()["trusted_person_id"] == coordinator.user_id


async def test_a_refused_visit_leaves_the_key_free_for_the_corrected_one(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    key = device_key()
    future = (today() + timedelta(days=2)).isoformat()

    refused = await send(client, trusted, case.id, offline_body(occurred_on=future), key)
    corrected = await send(client, trusted, case.id, offline_body(), key)

    assert refused.status_code == 422
    assert refused.json()["fields"] == ["occurred_on"]
    assert corrected.status_code == 201
    assert len(await visits_on(client, trusted, case.id)) == 1


async def test_the_key_is_checked_and_required_for_an_offline_visit(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)

    for bad in ("short", "x" * 65, "with spaces in it!!"):
        refused = await send(client, trusted, case.id, offline_body(), bad)
        assert refused.status_code == 422, bad
        assert refused.json()["fields"] == ["Idempotency-Key"]
    missing = await send(client, trusted, case.id, offline_body(), None)
    assert missing.status_code == 422
    assert missing.json()["fields"] == ["Idempotency-Key"]
    naive_time = visit_body(captured_offline_at="2025-01-01T10:00:00")
    naive = await send(client, trusted, case.id, naive_time, device_key())
    assert naive.status_code == 422
    assert naive.json()["fields"] == ["captured_offline_at"]
    assert await visits_on(client, trusted, case.id) == []


async def test_an_offline_visit_for_a_case_closed_meanwhile_is_held_for_the_coordinator(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    elsewhere = caller(Role.COORDINATOR, wijken={"west"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    closed = await client.post(
        f"/cases/{case.id}/close", json={"outcome_codes": ["moved"]}, headers=coordinator.headers
    )
    assert closed.status_code == 200
    key, body = device_key(), offline_body()

    held = await send(client, trusted, case.id, body, key)
    again = await send(client, trusted, case.id, body, key)

    assert held.status_code == again.status_code == 202, held.text
    assert again.json() == held.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    item = held.json()
    assert (item["reason"], item["state"], item["author_id"]) == (
        "case-closed",
        "waiting",
        trusted.user_id,
    )
    assert item["private_note"] == body["private_note"]
    assert item["captured_at"] is not None
    assert await visits_on(client, trusted, case.id) == []
    online = await send(client, trusted, case.id, visit_body(), device_key())
    assert online.status_code == 409, "an online visit on a closed case is refused as before"

    inbox = await client.get("/held-visits", headers=coordinator.headers)
    assert [h["id"] for h in inbox.json() if h["case_id"] == case.id] == [item["id"]]
    assert all(h["case_id"] != case.id for h in (await held_list(client, elsewhere)))
    own = await held_list(client, trusted)
    assert [h["id"] for h in own] == [item["id"]]


async def held_list(client: httpx.AsyncClient, who: Caller) -> list[Any]:
    """GET /held-visits as `who`."""
    response = await client.get("/held-visits", headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()
    return items


async def test_an_offline_visit_after_a_reassignment_is_held_with_that_reason(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller
) -> None:
    before, after = caller(Role.TRUSTED_PERSON), caller(Role.TRUSTED_PERSON)
    stranger = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=before.user_id)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, before, registered.family_id)
    moved = FamilyReassigned(
        family_id=registered.family_id,
        trusted_person_id=after.user_id,
        previous_trusted_person_id=before.user_id,
        reassigned_at=registered.registered_at + timedelta(minutes=5),
    )
    await producer.send(kafka_record(moved))
    await wait_for_cases(client, after, registered.family_id)

    held = await send(client, before, str(case["id"]), offline_body(), device_key())
    unknown = await send(client, stranger, str(case["id"]), offline_body(), device_key())
    online = await send(client, before, str(case["id"]), visit_body(), device_key())

    assert held.status_code == 202, held.text
    assert held.json()["reason"] == "reassigned"
    assert unknown.status_code == 404, "a stranger's offline visit reveals nothing"
    assert online.status_code == 404, "online, a former holder is no longer in scope"
    assert await visits_on(client, after, str(case["id"])) == []


async def test_a_coordinator_logs_a_held_visit_on_the_case_as_its_author_s_contact(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id, status=CaseStatus.CLOSED)
    item = (await send(client, trusted, case.id, offline_body(), device_key())).json()

    refused = await decide(client, trusted, item["id"], "log")
    logged = await decide(client, coordinator, item["id"], "log")
    twice = await decide(client, coordinator, item["id"], "discard")

    assert refused.status_code == 403
    assert logged.status_code == 200, logged.text
    assert logged.json()["state"] == "logged"
    assert logged.json()["decided_by"] == coordinator.user_id
    assert twice.status_code == 409
    (visit,) = await visits_on(client, coordinator, case.id)
    assert visit["id"] == logged.json()["visit_id"]
    assert visit["trusted_person_id"] == trusted.user_id
    assert visit["private_note"] == item["private_note"]
    records = await read_topic_until(
        kafka_bootstrap, VISIT_LOGGED, lambda rs: any(visit["id"].encode() in r.value for r in rs)
    )
    assert any(visit["id"].encode() in r.value for r in records)
    inbox = await held_list(client, coordinator)
    assert all(h["id"] != item["id"] for h in inbox), "decided visits leave the inbox"
    (own,) = await held_list(client, trusted)
    assert own["state"] == "logged", "the author sees what became of her visit"


async def test_a_discarded_held_visit_keeps_no_note(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    elsewhere = caller(Role.COORDINATOR, wijken={"west"})
    case = await seed_case(cases_store, holder=trusted.user_id, status=CaseStatus.CLOSED)
    item = (await send(client, trusted, case.id, offline_body(), device_key())).json()

    hidden = await decide(client, elsewhere, item["id"], "discard")
    bad = await decide(client, coordinator, item["id"], "maybe")
    discarded = await decide(client, coordinator, item["id"], "discard")

    assert hidden.status_code == 404
    assert bad.status_code == 422
    assert bad.json()["fields"] == ["decision"]
    assert discarded.status_code == 200
    assert discarded.json()["state"] == "discarded"
    assert discarded.json()["private_note"] is None
    assert discarded.json()["strengths_observed"] == []
    record = await cases_store.get("held_visits", item["id"])
    assert record is not None
    assert record.data["private_note"] is None
    assert await visits_on(client, coordinator, case.id) == []


async def decide(
    client: httpx.AsyncClient, who: Caller, held_id: str, decision: str
) -> httpx.Response:
    """POST a decision on a held visit as `who`."""
    return await client.post(
        f"/held-visits/{held_id}/decision", json={"decision": decision}, headers=who.headers
    )


async def test_logging_holding_and_refusals_are_audited(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    stranger = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    closed = await seed_case(cases_store, holder=trusted.user_id, status=CaseStatus.CLOSED)
    assert (await send(client, trusted, case.id, offline_body(), device_key())).status_code == 201
    assert (await send(client, trusted, closed.id, offline_body(), device_key())).status_code == 202
    assert (await send(client, stranger, case.id, offline_body(), device_key())).status_code == 404

    mine = await cases_store.find(ACCESS_AUDIT, {"user_id": trusted.user_id}, limit=10)
    theirs = await cases_store.find(ACCESS_AUDIT, {"user_id": stranger.user_id}, limit=10)
    assert sorted((r.data["action"], r.data["family_id"]) for r in mine) == sorted(
        [("log-visit", case.family_id), ("hold-visit", closed.family_id)]
    )
    (refusal,) = theirs
    assert refusal.data["outcome"] == "denied-or-missing"
    assert refusal.data["refusal"] == "not-found-or-out-of-scope"
