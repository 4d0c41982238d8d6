"""POST /families/{id}/assignment and its `intake.family-reassigned.v1` event (integration)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import FamilyReassigned
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import FAMILY_REASSIGNED
from alamal_intake.audit import audit_of_family
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

from .conftest import PLANTED_NAMES, Caller, family_body
from .test_api import registered

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

FATHER = {"role": "father", "birth_year": 1979, "first_name": "Driss", "surname": "El Amrani"}


async def assign(
    client: httpx.AsyncClient, caller: Caller, family_id: str, body: dict[str, Any]
) -> httpx.Response:
    """POST an assignment as `caller`."""
    return await client.post(f"/families/{family_id}/assignment", json=body, headers=caller.headers)


def schema() -> dict[str, Any]:
    """The committed JSON Schema of the event."""
    loaded: dict[str, Any] = json.loads(
        (DEFAULT_DIR / filename(FAMILY_REASSIGNED)).read_text(encoding="utf-8")
    )
    return loaded


async def test_a_coordinator_reassigns_and_a_thin_schema_valid_event_goes_out(
    client: httpx.AsyncClient, caller: MakeCaller, kafka_bootstrap: str, intake_store: Store
) -> None:
    first = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, first, members=[*family_body()["members"], FATHER])
    boss = caller(Role.COORDINATOR, wijken={"overvecht"})
    second, him = str(uuid.uuid4()), str(uuid.uuid4())
    response = await assign(
        client, boss, family_id, {"trusted_person_id": second, "father_trusted_person_id": him}
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    body = response.json()
    assert (body["trusted_person_id"], body["father_trusted_person_id"]) == (second, him)
    (record,) = body["history"]
    assert record["previous_trusted_person_id"] == first.user_id
    assert record["previous_father_trusted_person_id"] is None
    assert record["assigned_by"] == boss.user_id

    key = family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, FAMILY_REASSIGNED, lambda rs: any(r.key == key for r in rs), within=15
    )
    (message,) = [r for r in records if r.key == key]
    assert dict(message.headers)["ce_type"] == b"nl.alamal.intake.family-reassigned.v1"
    data = json.loads(message.value)
    jsonschema.Draft202012Validator(schema()).validate(data)
    assert set(data) == {
        "family_id",
        "trusted_person_id",
        "father_trusted_person_id",
        "previous_trusted_person_id",
        "reassigned_at",
    }
    event = from_kafka(message.value, message.headers, expect=FamilyReassigned).data
    assert (event.trusted_person_id, event.father_trusted_person_id) == (second, him)
    assert event.previous_trusted_person_id == first.user_id
    assert event.reassigned_at == datetime.fromisoformat(record["assigned_at"])
    text = message.value.decode() + "".join(v.decode() for _, v in message.headers)
    for name in (*PLANTED_NAMES, "Driss"):
        assert name not in text
    assert boss.user_id not in text  # who assigned stays in intake

    # The old trusted person loses the family; the new ones see it.
    assert (await client.get(f"/families/{family_id}", headers=first.headers)).status_code == 404
    audited = await audit_of_family(intake_store, family_id, limit=10)
    assert ("assign-family", "allowed") in [(r.action, r.outcome.value) for r in audited]


async def test_history_keeps_every_change_and_a_repeat_changes_nothing(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    boss = caller(Role.COORDINATOR, wijken={"overvecht"})
    family_id = await registered(
        client, caller(Role.TRUSTED_PERSON), members=[*family_body()["members"], FATHER]
    )
    him = str(uuid.uuid4())
    assert (
        await assign(client, boss, family_id, {"father_trusted_person_id": him})
    ).status_code == 200
    repeat = await assign(client, boss, family_id, {"father_trusted_person_id": him})
    assert repeat.status_code == 200
    assert repeat.headers["ETag"] == '"2"'
    removed = await assign(client, boss, family_id, {"father_trusted_person_id": None})
    assert removed.status_code == 200, removed.text
    history = removed.json()["history"]
    assert [h["father_trusted_person_id"] for h in history] == [him, None]
    assert removed.json()["father_trusted_person_id"] is None


async def test_trusted_persons_cannot_assign(client: httpx.AsyncClient, caller: MakeCaller) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    body = {"trusted_person_id": str(uuid.uuid4())}
    assert (await assign(client, owner, family_id, body)).status_code == 403
    assert (await assign(client, caller(Role.TRUSTED_PERSON), family_id, body)).status_code == 404
    elsewhere = caller(Role.COORDINATOR, wijken={"zuid"})
    assert (await assign(client, elsewhere, family_id, body)).status_code == 404
    family = (await client.get(f"/families/{family_id}", headers=owner.headers)).json()
    assert family["trusted_person_id"] == owner.user_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "body", id="empty"),
        pytest.param({"trusted_person_id": None}, "trusted_person_id", id="primary-null"),
        pytest.param({"trusted_person_id": "fatima"}, "trusted_person_id", id="not-a-uuid"),
        pytest.param({"wijk": "zuid"}, "wijk", id="unknown-field"),
        pytest.param(
            {"father_trusted_person_id": str(uuid.uuid4())},
            "father_trusted_person_id",
            id="no-father",
        ),
    ],
)
async def test_invalid_assignments_are_422(
    client: httpx.AsyncClient, caller: MakeCaller, body: dict[str, Any], field: str
) -> None:
    family_id = await registered(client, caller(Role.TRUSTED_PERSON))
    boss = caller(Role.COORDINATOR, wijken={"overvecht"})
    response = await assign(client, boss, family_id, body)
    assert response.status_code == 422, response.text
    assert field in response.text
