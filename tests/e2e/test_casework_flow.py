"""End to end on the embedded stack: a family's whole casework, checked on every topic.

register -> assign (with the father's trusted person in Tussen In) -> log visits -> plan goals
-> propose, approve, send a referral -> partner status -> close. Every event of the family is
read back from its topic and checked: CloudEvents attributes, the committed JSON Schema, and
none of the personal values planted in the requests (names, birth years, notes, goal text).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import (
    CASE_CLOSED,
    CASE_OPENED,
    CONSENT_CHANGED,
    FAMILY_REASSIGNED,
    FAMILY_REGISTERED,
    GOAL_UPDATED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
    VISIT_LOGGED,
    event_type,
)
from alamal_runtime.auth import Role
from alamal_stack.kafka_testing import Records, read_topic_until
from alamal_stack.leak_scan import hits_in_files
from alamal_stack.runner import EmbeddedStack
from tests.e2e.conftest import family_body, leaked, token
from tests.e2e.queries import profiled, served

pytestmark = pytest.mark.e2e

PLANTED = (
    "Fatima",
    "El Amrani",
    "Yasmine",
    "Rachid",
    "1984",
    "1979",
    "2016",
    "Planted-visit-note-4410",
    "Planted-strength-7781",
    "Planted-goal-text-3321",
    "Planted-progress-9912",
    "Planted-referral-note-5563",
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EXPECTED = {
    FAMILY_REGISTERED: 1,
    FAMILY_REASSIGNED: 1,
    CONSENT_CHANGED: 1,
    CASE_OPENED: 1,
    VISIT_LOGGED: 2,
    GOAL_UPDATED: 2,
    REFERRAL_ESCALATED: 1,
    REFERRAL_UPDATED: 2,
    CASE_CLOSED: 1,
}


class Person:
    """A staff user with her token for every service."""

    def __init__(self, stack: EmbeddedStack, role: Role, wijken: set[str] | None = None) -> None:
        self.user_id = str(uuid.uuid4())
        bearer = token(stack, user_id=self.user_id, role=role, wijken=wijken or set())
        self.headers = {"Authorization": f"Bearer {bearer}"}


async def eventually[T](probe: Callable[[], Awaitable[T | None]], within: float = 20.0) -> T:
    """Poll until `probe` returns something; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (found := await probe()) is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing within {within}s")


def check_event(topic: str, record: Any) -> dict[str, Any]:
    """CloudEvents attributes, schema and no planted value; return the event data."""
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["ce_specversion"] == "1.0"
    assert UUID.fullmatch(headers["ce_id"])
    assert headers["ce_type"] == event_type(topic)
    assert headers["ce_source"] == "/alamal/" + topic.split(".", 1)[0]
    assert datetime.fromisoformat(headers["ce_time"].replace("Z", "+00:00")).tzinfo is not None
    assert headers["content-type"] == "application/json"
    found = leaked(PLANTED, record.value, list(record.headers))
    assert not found, f"{topic} carries planted personal values {found}"
    data: dict[str, Any] = json.loads(record.value)
    schema = json.loads((DEFAULT_DIR / filename(topic)).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    return data


async def test_the_whole_casework_of_one_family(stack: EmbeddedStack) -> None:
    intake, cases = stack.urls["intake"], stack.urls["cases"]
    amina = Person(stack, Role.TRUSTED_PERSON, {"overvecht"})
    khadija = Person(stack, Role.TRUSTED_PERSON, {"overvecht"})
    youssef = Person(stack, Role.TRUSTED_PERSON, {"overvecht"})
    coordinator = Person(stack, Role.COORDINATOR, {"overvecht"})
    admin = Person(stack, Role.ADMIN, set())
    today = date.today()

    async with httpx.AsyncClient(timeout=15) as http:
        partner = await http.post(
            f"{stack.urls['notifications']}/partners",
            json={"name": "Jeugdzorg Utrecht", "kind": "youth-care"},
            headers=admin.headers,
        )
        assert partner.status_code == 201, partner.text
        partner_id = partner.json()["id"]
        body = family_body(amina.user_id)
        body["members"].append({"role": "father", "birth_year": 1979, "first_name": "Rachid"})
        body["projects"] = ["tussen-in"]
        registered = await http.post(f"{intake}/families", json=body, headers=amina.headers)
        assert registered.status_code == 201, registered.text
        family_id = registered.json()["id"]

        async def case_of(person: Person) -> dict[str, Any] | None:
            got = await http.get(
                f"{cases}/cases", params={"family_id": family_id}, headers=person.headers
            )
            found: list[dict[str, Any]] = got.json()
            return found[0] if found else None

        case = await eventually(lambda: case_of(amina))
        case_id = case["id"]

        assigned = await http.post(
            f"{intake}/families/{family_id}/assignment",
            json={
                "trusted_person_id": khadija.user_id,
                "father_trusted_person_id": youssef.user_id,
            },
            headers=coordinator.headers,
        )
        assert assigned.status_code == 200, assigned.text
        moved = await eventually(lambda: case_of(khadija))
        assert moved["father_trusted_person_id"] == youssef.user_id
        assert await case_of(amina) is None  # the case moved on with the family

        for ago, follow_up in ((6, None), (1, today + timedelta(days=7))):
            visit = {
                "kind": "home-visit",
                "occurred_on": (today - timedelta(days=ago)).isoformat(),
                "duration_minutes": 50,
                "topic_codes": ["parenting", "school"],
                "strengths_observed": ["Planted-strength-7781"],
                "private_note": "Planted-visit-note-4410 with Fatima and Yasmine",
                "follow_up_on": None if follow_up is None else follow_up.isoformat(),
            }
            logged = await http.post(
                f"{cases}/cases/{case_id}/visits", json=visit, headers=khadija.headers
            )
            assert logged.status_code == 201, logged.text
        father_visit = await http.get(f"{cases}/caseload", headers=youssef.headers)
        assert [e["case_id"] for e in father_visit.json()] == [case_id]

        plan = f"{cases}/cases/{case_id}/plan"
        strengths = await http.put(
            f"{plan}/strengths", json={"items": ["Planted-strength-7781"]}, headers=khadija.headers
        )
        assert strengths.status_code == 200, strengths.text
        goal = await http.post(
            f"{plan}/goals",
            json={"area": "school", "description": "Planted-goal-text-3321"},
            headers=khadija.headers,
        )
        assert goal.status_code == 201, goal.text
        reached = await http.patch(
            f"{plan}/goals/{goal.json()['id']}",
            json={"status": "reached", "note": "Planted-progress-9912"},
            headers=khadija.headers,
        )
        assert reached.status_code == 200, reached.text

        consent = await http.post(
            f"{intake}/families/{family_id}/consents",
            json={"purpose": "share-youth-care", "granted": True, "text_version": "2026-1"},
            headers=khadija.headers,
        )
        assert consent.status_code == 201, consent.text

        async def proposed() -> dict[str, Any] | None:
            # 422 on partner_id until cases has projected notifications' partner fact.
            answer = await http.post(
                f"{cases}/cases/{case_id}/referrals",
                json={
                    "partner_id": partner_id,
                    "urgency": "routine",
                    "reason_codes": ["parenting-support"],
                    "note": "Planted-referral-note-5563",
                },
                headers=khadija.headers,
            )
            if answer.status_code == 422:
                assert answer.json()["fields"] == ["partner_id"], answer.text
                return None
            assert answer.status_code == 201, answer.text
            created: dict[str, Any] = answer.json()
            return created

        referral = f"{cases}/referrals/{(await eventually(proposed))['id']}"
        approved = await http.post(f"{referral}/approve", headers=coordinator.headers)
        assert approved.status_code == 200, approved.text

        async def sent() -> dict[str, Any] | None:
            # 409 until cases has projected intake's consent event: the gate is working.
            answer = await http.post(f"{referral}/send", headers=khadija.headers)
            return answer.json() if answer.status_code == 200 else None

        assert (await eventually(sent))["legal_basis"] == "consent"
        for status in (
            {"status": "accepted"},
            {"status": "closed", "outcome_code": "support-started"},
        ):
            answered = await http.post(
                f"{referral}/status", json=status, headers=coordinator.headers
            )
            assert answered.status_code == 200, answered.text

        closed = await http.post(
            f"{cases}/cases/{case_id}/close",
            json={"outcome_codes": ["goals-reached", "referred-on"]},
            headers=khadija.headers,
        )
        assert closed.status_code == 200, closed.text
        assert (await http.get(f"{cases}/caseload", headers=khadija.headers)).json() == []

    key = family_id.encode()
    seen: dict[str, list[dict[str, Any]]] = {}
    for topic, count in EXPECTED.items():

        def enough(records: Records, count: int = count) -> bool:
            return bool(sum(r.key == key for r in records) >= count)

        records = await read_topic_until(stack.bootstrap, topic, enough, within=20)
        ours = [r for r in records if r.key == key]
        assert len(ours) == count, f"{topic}: {len(ours)} events, expected {count}"
        seen[topic] = [check_event(topic, r) for r in ours]

    assert seen[FAMILY_REASSIGNED][0]["father_trusted_person_id"] == youssef.user_id
    assert [e["status"] for e in seen[GOAL_UPDATED]] == ["open", "reached"]
    assert seen[REFERRAL_ESCALATED][0]["partner_id"] == partner_id
    assert [e["status"] for e in seen[REFERRAL_UPDATED]] == ["accepted", "closed"]
    assert seen[CASE_CLOSED][0]["outcome_codes"] == ["goals-reached", "referred-on"]
    assert {e["trusted_person_id"] for e in seen[VISIT_LOGGED]} == {khadija.user_id}

    for log_file in stack.logs_dir.glob("*.log"):
        text = log_file.read_text(encoding="utf-8", errors="replace")
        leaked = [p for p in PLANTED if p in text and not p.isdigit()]
        assert not leaked, f"{log_file.name} logs planted personal values {leaked}"
    if stack.store == "sqlite":  # (mongoeco keeps its data in memory, not in files)
        # Every service's store file, its WAL included, holds the planted text sealed only.
        words = [p for p in PLANTED if not p.isdigit()]
        stores = list(stack.data_dir.glob("*/*.sqlite3*"))
        assert {p.name for p in stores} >= {"intake.sqlite3-wal", "cases.sqlite3-wal"}
        assert hits_in_files(stores, words) == {}


async def test_every_query_the_flow_ran_on_mongodb_had_an_index(stack: EmbeddedStack) -> None:
    """Runs after the casework above, on the same stack: what every service asked its database
    (the server's profiler), and an index for each query shape; on a real MongoDB
    (MONGODB_URL) the server's plans show no collection scan either."""
    if stack.store != "mongodb":
        pytest.skip("query plans are a MongoDB matter")
    unserved: list[str] = []
    scanned: list[str] = []
    seen = 0
    for service, store_url in stack.store_urls.items():
        queries, indexes = await profiled(store_url)
        seen += len(queries)
        for query in set(queries):
            if not served(query, indexes.get(query.collection, [])):
                unserved.append(f"{service} {query}")
            if query.plan and "COLLSCAN" in query.plan and (query.equal or query.sort):
                scanned.append(f"{service} {query} ({query.plan})")
    assert seen > 100, "the profiler recorded the flow's queries"
    assert not sorted(unserved), "queries without an index:\n" + "\n".join(sorted(unserved))
    assert not scanned, "collection scans:\n" + "\n".join(scanned)
