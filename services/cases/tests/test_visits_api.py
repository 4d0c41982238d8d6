"""Visits over HTTP, in-process on the real broker and a real SQLite store (integration)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_cases.domain import CaseStatus, local_today
from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import VisitLogged
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import VISIT_LOGGED
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

from .conftest import Caller, Producer, kafka_record, registration, seed_case, wait_for_cases

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

PLANTED_STRENGTH = "Quietly-Planted-Strength-7731"
PLANTED_NOTE = "Quietly-Planted-Note-9182"


def today() -> date:
    """Today in Utrecht, as the service sees it."""
    return local_today(datetime.now(UTC))


def visit_body(**change: Any) -> dict[str, Any]:
    """A valid visit to log, with `change` applied."""
    body: dict[str, Any] = {
        "kind": "home-visit",
        "occurred_on": today().isoformat(),
        "duration_minutes": 45,
        "topic_codes": ["school", "parenting"],
        "strengths_observed": ["Mother keeps a tidy school agenda"],
        "private_note": "Discussed the school meeting.",
        "follow_up_on": None,
    }
    body.update(change)
    return body


async def log(
    client: httpx.AsyncClient, caller: Caller, case_id: str, **change: Any
) -> httpx.Response:
    """POST a visit as `caller`."""
    return await client.post(
        f"/cases/{case_id}/visits", json=visit_body(**change), headers=caller.headers
    )


async def test_the_trusted_person_logs_a_visit_and_lists_it(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)

    response = await log(client, trusted, str(case["id"]))
    assert response.status_code == 201, response.text
    visit = response.json()
    assert response.headers["Location"] == f"/cases/{case['id']}/visits/{visit['id']}"
    assert visit["case_id"] == case["id"]
    assert visit["family_id"] == registered.family_id
    assert visit["trusted_person_id"] == trusted.user_id
    assert visit["private_note"] == "Discussed the school meeting."
    assert visit["strengths_observed"] == ["Mother keeps a tidy school agenda"]
    assert visit["topic_codes"] == ["school", "parenting"]

    listed = await client.get(f"/cases/{case['id']}/visits", headers=trusted.headers)
    assert listed.status_code == 200
    assert listed.json()["results"] == [visit]
    one = await client.get(response.headers["Location"], headers=trusted.headers)
    assert one.json() == visit


async def test_visits_are_listed_newest_first_up_to_the_limit(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    days = [5, 1, 3]
    for ago in days:
        occurred = (today() - timedelta(days=ago)).isoformat()
        assert (await log(client, trusted, case.id, occurred_on=occurred)).status_code == 201
    listed = await client.get(f"/cases/{case.id}/visits", headers=trusted.headers)
    dates = [v["occurred_on"] for v in listed.json()["results"]]
    assert dates == sorted(dates, reverse=True)
    assert len(dates) == 3
    limited = await client.get(
        f"/cases/{case.id}/visits", params={"limit": 1}, headers=trusted.headers
    )
    assert [v["occurred_on"] for v in limited.json()["results"]] == dates[:1]
    for bad in (0, 201):
        refused = await client.get(
            f"/cases/{case.id}/visits", params={"limit": bad}, headers=trusted.headers
        )
        assert refused.status_code == 422
        assert refused.json()["fields"] == ["limit"]


async def test_a_coordinator_in_scope_logs_a_visit(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    case = await seed_case(cases_store, holder=str(uuid.uuid4()), wijk=Wijk.ZUIDWEST)
    coordinator = caller(Role.COORDINATOR, wijken={"zuidwest"})
    response = await log(client, coordinator, case.id)
    assert response.status_code == 201, response.text
    assert response.json()["trusted_person_id"] == coordinator.user_id


async def test_the_event_is_thin_and_matches_its_schema(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    response = await log(
        client,
        trusted,
        case.id,
        strengths_observed=[PLANTED_STRENGTH],
        private_note=PLANTED_NOTE,
        follow_up_on=(today() + timedelta(days=7)).isoformat(),
    )
    assert response.status_code == 201, response.text
    visit = response.json()

    key = case.family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, VISIT_LOGGED, lambda rs: any(r.key == key for r in rs)
    )
    (record,) = [r for r in records if r.key == key]
    headers = dict(record.headers)
    assert headers["ce_type"] == b"nl.alamal.cases.visit-logged.v1"
    assert headers["ce_source"] == b"/alamal/cases"
    schema = json.loads((DEFAULT_DIR / filename(VISIT_LOGGED)).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(json.loads(record.value))
    for planted in (PLANTED_STRENGTH.encode(), PLANTED_NOTE.encode()):
        assert planted not in record.value
        assert all(planted not in v for _, v in record.headers)
    event = from_kafka(record.value, record.headers, expect=VisitLogged).data
    assert (event.visit_id, event.case_id, event.family_id) == (
        visit["id"],
        case.id,
        case.family_id,
    )
    assert event.trusted_person_id == trusted.user_id
    assert event.duration_minutes == 45


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"occurred_on": "FUTURE"}, "occurred_on", id="future-date"),
        pytest.param({"duration_minutes": 0}, "duration_minutes", id="duration-0"),
        pytest.param({"duration_minutes": 721}, "duration_minutes", id="duration-721"),
        pytest.param({"topic_codes": ["religion"]}, "topic_codes.0", id="unknown-topic"),
        pytest.param({"topic_codes": ["money", "money"]}, "topic_codes", id="duplicate-topics"),
        pytest.param({"first_name": "Fatima"}, "first_name", id="unknown-field"),
        pytest.param({"follow_up_on": "BEFORE"}, "follow_up_on", id="follow-up-before-visit"),
        pytest.param({"strengths_observed": ["x"] * 11}, "strengths_observed", id="11-strengths"),
        pytest.param({"private_note": "x" * 4001}, "private_note", id="long-note"),
    ],
)
async def test_bad_visits_are_422_naming_the_field(
    client: httpx.AsyncClient,
    cases_store: Store,
    caller: MakeCaller,
    change: dict[str, Any],
    field: str,
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    if change.get("occurred_on") == "FUTURE":
        change = {"occurred_on": (today() + timedelta(days=1)).isoformat()}
    if change.get("follow_up_on") == "BEFORE":
        change = {"follow_up_on": (today() - timedelta(days=1)).isoformat()}
    response = await log(client, trusted, case.id, **change)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == [field]
    assert "Fatima" not in response.text
    listed = await client.get(f"/cases/{case.id}/visits", headers=trusted.headers)
    assert listed.json()["results"] == []


@pytest.mark.parametrize(
    ("role", "wijken"),
    [
        pytest.param(Role.TRUSTED_PERSON, {"overvecht"}, id="another-trusted-person"),
        pytest.param(Role.COORDINATOR, {"zuid"}, id="coordinator-of-another-wijk"),
        pytest.param(Role.ADMIN, set(), id="admin"),
        pytest.param(Role.OPERATOR, set(), id="operator"),
        pytest.param(Role.FUNDER, {"overvecht"}, id="funder"),
    ],
)
async def test_out_of_scope_is_404_like_a_missing_case(
    client: httpx.AsyncClient,
    cases_store: Store,
    caller: MakeCaller,
    role: Role,
    wijken: set[str],
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=holder.user_id)
    outsider = caller(role, wijken=wijken)
    for case_id in (case.id, str(uuid.uuid4())):
        posted = await log(client, outsider, case_id)
        listed = await client.get(f"/cases/{case_id}/visits", headers=outsider.headers)
        assert posted.status_code == listed.status_code == 404
        assert posted.json() == listed.json() == {"detail": "case not found"}
    assert (await client.get(f"/cases/{case.id}/visits", headers=holder.headers)).json()[
        "results"
    ] == []


async def test_a_closed_case_is_409(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id, status=CaseStatus.CLOSED)
    response = await log(client, trusted, case.id)
    assert response.status_code == 409
    assert (await client.get(f"/cases/{case.id}/visits", headers=trusted.headers)).json()[
        "results"
    ] == []


async def test_visit_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    case_id = uuid.uuid4()
    assert (await client.post(f"/cases/{case_id}/visits", json=visit_body())).status_code == 401
    assert (await client.get(f"/cases/{case_id}/visits")).status_code == 401
    assert (await client.get("/follow-ups/overdue")).status_code == 401


async def test_overdue_follow_ups_by_role_and_wijk(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    overdue_case = await seed_case(cases_store, holder=trusted.user_id, wijk=Wijk.LEIDSCHE_RIJN)
    met_case = await seed_case(cases_store, holder=trusted.user_id, wijk=Wijk.LEIDSCHE_RIJN)
    day = today()

    def ago(days: int) -> str:
        return (day - timedelta(days=days)).isoformat()

    due = await log(client, trusted, overdue_case.id, occurred_on=ago(20), follow_up_on=ago(10))
    met = await log(client, trusted, met_case.id, occurred_on=ago(20), follow_up_on=ago(10))
    # Satisfies `met`, and sets a follow-up that is not due yet.
    later = await log(client, trusted, met_case.id, occurred_on=ago(8), follow_up_on=ago(-5))
    assert {r.status_code for r in (due, met, later)} == {201}

    expected = {
        "case_id": overdue_case.id,
        "family_id": overdue_case.family_id,
        "visit_id": due.json()["id"],
        "follow_up_on": ago(10),
        "days_overdue": 10,
    }
    mine = await client.get("/follow-ups/overdue", headers=trusted.headers)
    assert mine.status_code == 200
    assert mine.json() == [expected]

    other_trusted = caller(Role.TRUSTED_PERSON, wijken={"leidsche-rijn"})
    assert (await client.get("/follow-ups/overdue", headers=other_trusted.headers)).json() == []

    coordinator = caller(Role.COORDINATOR, wijken={"leidsche-rijn", "oost"})
    for params in ({}, {"wijk": "leidsche-rijn"}):
        seen = await client.get("/follow-ups/overdue", params=params, headers=coordinator.headers)
        assert seen.status_code == 200
        assert expected in seen.json()
        ids = {o["visit_id"] for o in seen.json()}
        assert ids.isdisjoint({met.json()["id"], later.json()["id"]})
    in_oost = await client.get(
        "/follow-ups/overdue", params={"wijk": "oost"}, headers=coordinator.headers
    )
    assert expected not in in_oost.json()

    elsewhere = caller(Role.COORDINATOR, wijken={"vleuten-de-meern"})
    seen = await client.get("/follow-ups/overdue", headers=elsewhere.headers)
    assert expected not in seen.json()
    outside = await client.get(
        "/follow-ups/overdue", params={"wijk": "leidsche-rijn"}, headers=elsewhere.headers
    )
    assert outside.status_code == 403
    for role in (Role.ADMIN, Role.OPERATOR, Role.FUNDER):
        denied = await client.get("/follow-ups/overdue", headers=caller(role).headers)
        assert denied.status_code == 403


async def test_visits_page_with_a_cursor_and_refuse_a_foreign_one(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    for ago in (1, 1, 2, 3, 4):
        occurred = (today() - timedelta(days=ago)).isoformat()
        assert (await log(client, trusted, case.id, occurred_on=occurred)).status_code == 201
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get(f"/cases/{case.id}/visits", params=params, headers=trusted.headers)
        ).json()
        seen += [v["id"] for v in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = await client.get(f"/cases/{case.id}/visits", headers=trusted.headers)
    assert seen == [v["id"] for v in everything.json()["results"]]
    assert len(set(seen)) == 5
    forged = await client.get(
        f"/cases/{case.id}/visits", params={"cursor": "not-ours"}, headers=trusted.headers
    )
    assert forged.status_code == 422
    assert forged.json()["fields"] == ["cursor"]
