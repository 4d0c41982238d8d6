"""Cases in-process on the real broker and a real SQLite store (integration).

Intake's events are built from the contracts and published with a plain producer. Records whose
order matters go to one partition, and a later valid "sentinel" registration on that partition
shows that everything before it has been handled.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import CaseOpened
from alamal_contracts.topics import CASE_OPENED, FAMILY_REGISTERED, dead_letter_topic
from alamal_runtime.auth import Role
from alamal_stack.kafka_testing import read_topic_until

from .conftest import (
    Caller,
    Producer,
    cases_seen_by,
    kafka_record,
    registration,
    wait_for_cases,
)

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

ORDERED = 0
"""The partition for records whose relative order a test relies on."""


async def test_a_registration_opens_a_case_the_trusted_person_sees(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id, wijk=Wijk.NOORDWEST)
    await producer.send(kafka_record(registered))

    (case,) = await wait_for_cases(client, trusted, registered.family_id)
    assert case["family_id"] == registered.family_id
    assert case["trusted_person_id"] == trusted.user_id
    assert case["wijk"] == "noordwest"
    assert case["status"] == "open"
    assert uuid.UUID(str(case["id"]))

    coordinator = caller(Role.COORDINATOR, wijken={"noordwest"})
    assert await cases_seen_by(client, coordinator, registered.family_id) == [case]


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
async def test_others_see_no_case_and_no_case_by_id(
    client: httpx.AsyncClient,
    producer: Producer,
    caller: MakeCaller,
    role: Role,
    wijken: set[str],
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)

    outsider = caller(role, wijken=wijken)
    assert await cases_seen_by(client, outsider, registered.family_id) == []
    hidden = await client.get(f"/cases/{case['id']}", headers=outsider.headers)
    missing = await client.get(f"/cases/{uuid.uuid4()}", headers=outsider.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content


async def test_the_trusted_person_reads_her_case_by_id(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)
    response = await client.get(f"/cases/{case['id']}", headers=trusted.headers)
    assert response.status_code == 200
    assert response.json() == case


async def test_an_unknown_family_has_no_cases(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    coordinator = caller(Role.COORDINATOR, wijken={w.value for w in Wijk})
    assert await cases_seen_by(client, coordinator, str(uuid.uuid4())) == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        pytest.param("/cases", {"family_id": "family-1"}, "family_id", id="family-id-not-uuid"),
        pytest.param("/cases", {}, "family_id", id="family-id-missing"),
        pytest.param("/cases/42", {}, "case_id", id="case-id-not-uuid"),
    ],
)
async def test_bad_ids_are_422_naming_the_parameter(
    client: httpx.AsyncClient,
    caller: MakeCaller,
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    response = await client.get(path, params=params, headers=caller(Role.TRUSTED_PERSON).headers)
    assert response.status_code == 422
    assert response.json()["fields"] == [field]


async def test_requests_without_a_token_are_401(client: httpx.AsyncClient) -> None:
    for path in (f"/cases?family_id={uuid.uuid4()}", f"/cases/{uuid.uuid4()}"):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_redelivered_and_repeated_registrations_leave_one_case(
    client: httpx.AsyncClient,
    producer: Producer,
    caller: MakeCaller,
    kafka_bootstrap: str,
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id)
    record = kafka_record(registered)
    # A second registration of the same family (new event id), assigned to someone else.
    again = kafka_record(registration(family_id=registered.family_id))
    sentinel_holder = caller(Role.TRUSTED_PERSON)
    sentinel = registration(trusted_person_id=sentinel_holder.user_id)

    await producer.send(record, partition=ORDERED)
    await producer.send(record, partition=ORDERED)  # the same record again: same ce_id
    await producer.send(again, partition=ORDERED)
    await producer.send(kafka_record(sentinel), partition=ORDERED)
    await wait_for_cases(client, sentinel_holder, sentinel.family_id)

    (case,) = await cases_seen_by(client, trusted, registered.family_id)
    assert case["trusted_person_id"] == trusted.user_id
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    assert len(await cases_seen_by(client, coordinator, registered.family_id)) == 1

    keys = {registered.family_id.encode(), sentinel.family_id.encode()}
    published = await read_topic_until(
        kafka_bootstrap, CASE_OPENED, lambda rs: keys <= {r.key for r in rs}
    )
    ours = [r for r in published if r.key == registered.family_id.encode()]
    assert len(ours) == 1, "one case-opened event for the family"
    assert from_kafka(ours[0].value, ours[0].headers, expect=CaseOpened).data.case_id == case["id"]


async def test_a_case_opened_event_is_published(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id, wijk=Wijk.ZUID)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)

    key = registered.family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, CASE_OPENED, lambda rs: any(r.key == key for r in rs)
    )
    (record,) = [r for r in records if r.key == key]
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"nl.alamal.cases.case-opened.v1"
    assert headers["ce_source"] == b"/alamal/cases"
    assert headers["content-type"] == b"application/json"
    assert "traceparent" in headers
    event = from_kafka(record.value, record.headers, expect=CaseOpened)
    assert event.data.family_id == registered.family_id
    assert event.data.case_id == case["id"]
    assert event.data.trusted_person_id == trusted.user_id
    assert event.data.wijk is Wijk.ZUID


async def test_bad_records_are_dead_lettered_and_the_next_event_is_handled(
    client: httpx.AsyncClient,
    producer: Producer,
    caller: MakeCaller,
    kafka_bootstrap: str,
) -> None:
    unknown_type = uuid.uuid4().hex.encode()
    unknown_value = b'{"first_name": "Fatima", "not": "an event"}'
    await producer.send_raw(
        FAMILY_REGISTERED,
        value=unknown_value,
        key=unknown_type,
        headers=[("ce_specversion", b"1.0"), ("ce_type", b"nl.alamal.unknown.v1")],
        partition=ORDERED,
    )

    # A valid envelope whose data carries a name: refused, and the name is not in the reason.
    leaky = kafka_record(registration())
    payload = json.loads(leaky.value)
    payload["first_name"] = "Fatima"
    leaky_value = json.dumps(payload).encode()
    await producer.send_raw(
        FAMILY_REGISTERED,
        value=leaky_value,
        key=leaky.key.encode(),
        headers=list(leaky.headers),
        partition=ORDERED,
    )

    # Another event type on the topic: valid, but not what the handler takes.
    stray_event = CaseOpened(
        case_id=str(uuid.uuid4()),
        family_id=str(uuid.uuid4()),
        trusted_person_id=str(uuid.uuid4()),
        wijk=Wijk.WEST,
        opened_at=registration().registered_at,
    )
    stray = kafka_record(stray_event)
    await producer.send_raw(
        FAMILY_REGISTERED,
        value=stray.value,
        key=stray.key.encode(),
        headers=list(stray.headers),
        partition=ORDERED,
    )

    trusted = caller(Role.TRUSTED_PERSON)
    valid = registration(trusted_person_id=trusted.user_id)
    await producer.send(kafka_record(valid), partition=ORDERED)
    assert len(await wait_for_cases(client, trusted, valid.family_id)) == 1

    expected = {
        unknown_type: unknown_value,
        leaky.key.encode(): leaky_value,
        stray.key.encode(): stray.value,
    }
    letters = await read_topic_until(
        kafka_bootstrap,
        dead_letter_topic("cases"),
        lambda rs: set(expected) <= {r.key for r in rs},
    )
    ours = {r.key: r for r in letters if r.key in expected}
    assert set(ours) == set(expected)
    for key, letter in ours.items():
        headers = dict(letter.headers)
        assert letter.value == expected[key], "the original bytes are kept"
        assert headers["dlq-source-topic"] == FAMILY_REGISTERED.encode()
        assert headers["dlq-source-partition"] == str(ORDERED).encode()
        assert headers["dlq-consumer"] == b"cases"
        assert headers["dlq-reason"]
        assert b"Fatima" not in headers["dlq-reason"]
    assert b"handler failed" in dict(ours[stray.key.encode()].headers)["dlq-reason"]
    assert (
        await cases_seen_by(
            client, caller(Role.COORDINATOR, wijken={"west"}), stray_event.family_id
        )
        == []
    )
    assert not [r for r in letters if r.key == valid.family_id.encode()]

    # The operator sees each dead letter as a position and codes, never its values.
    operator = caller(Role.OPERATOR)
    noted = await client.get("/ops/dead-letters", headers=operator.headers)
    assert noted.status_code == 200, noted.text
    offsets = {int(h["dlq-source-offset"]) for h in (dict(r.headers) for r in ours.values())}
    mine = [n for n in noted.json() if n["topic"] == FAMILY_REGISTERED and n["offset"] in offsets]
    assert len(mine) == 3
    assert {n["reason"] for n in mine} == {"invalid_event", "handler_failed"}
    assert {n["event_type"] for n in mine} == {
        None,
        "nl.alamal.intake.family-registered.v1",
        "nl.alamal.cases.case-opened.v1",
    }
    assert "Fatima" not in noted.text
    assert "unknown.v1" not in noted.text  # a type not of ours is input: not shown
    refused = await client.get("/ops/dead-letters", headers=trusted.headers)
    assert refused.status_code == 403
