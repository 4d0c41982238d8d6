"""PATCH /families/{id} under optimistic concurrency, on the real broker and SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alamal_intake.audit import audit_of_family
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import Caller
from .test_api import registered

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

ADDRESS = {
    "street": "Amsterdamsestraatweg",
    "house_number": "12a",
    "postcode": "3513 AB",
    "city": "Utrecht",
}


async def patch(
    client: httpx.AsyncClient,
    caller: Caller,
    family_id: str,
    body: dict[str, Any],
    etag: str | None,
) -> httpx.Response:
    """PATCH a family as `caller`, with `If-Match: etag` unless None."""
    headers = dict(caller.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return await client.patch(f"/families/{family_id}", json=body, headers=headers)


async def etag_of(client: httpx.AsyncClient, caller: Caller, family_id: str) -> str:
    """The ETag GET /families/{id} answers with."""
    response = await client.get(f"/families/{family_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


async def test_get_then_patch_with_if_match_changes_the_family_and_its_etag(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    assert await etag_of(client, me, family_id) == '"1"'
    members = [{"role": "father", "birth_year": 1980, "first_name": "Youssef"}]
    body = {
        "address": ADDRESS,
        "phone": "+31 30 123 4567",
        "notes": "Prefers calls.",
        "members": members,
    }
    response = await patch(client, me, family_id, body, '"1"')
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    changed = response.json()
    assert changed["address"] == ADDRESS
    assert changed["phone"] == "+31 30 123 4567"
    assert changed["notes"] == "Prefers calls."
    assert [m["first_name"] for m in changed["members"]] == ["Youssef"]
    assert changed["wijk"] == "overvecht"  # not sent: unchanged
    assert changed["languages"] == ["nl", "ar"]

    read = await client.get(f"/families/{family_id}", headers=me.headers)
    assert read.headers["ETag"] == '"2"'
    assert read.json() == changed

    cleared = await patch(client, me, family_id, {"notes": None}, '"2"')
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["notes"] is None
    assert cleared.json()["phone"] == "+31 30 123 4567"

    actions = [
        (r.action, r.outcome.value)
        for r in await audit_of_family(intake_store, family_id, limit=20)
    ]
    assert actions.count(("update-family", "allowed")) == 2


async def test_without_if_match_is_428(client: httpx.AsyncClient, caller: MakeCaller) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    for etag in (None, "*", "1"):
        response = await patch(client, me, family_id, {"phone": "030 1234567"}, etag)
        assert response.status_code == 428, etag
    assert await etag_of(client, me, family_id) == '"1"'


async def test_a_stale_version_is_409_and_changes_nothing(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    first = await patch(client, me, family_id, {"phone": "030 1234567"}, '"1"')
    assert first.status_code == 200, first.text
    second = await patch(client, me, family_id, {"phone": "030 7654321"}, '"1"')
    assert second.status_code == 409, second.text
    family = (await client.get(f"/families/{family_id}", headers=me.headers)).json()
    assert family["phone"] == "030 1234567"
    assert (await patch(client, me, family_id, {}, '"99"')).status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"address": {**ADDRESS, "postcode": "0123 AB"}}, "postcode", id="postcode-leading-0"
        ),
        pytest.param(
            {"address": {**ADDRESS, "postcode": "3513 ab"}}, "postcode", id="postcode-lowercase"
        ),
        pytest.param(
            {"address": {**ADDRESS, "postcode": "35134"}}, "postcode", id="postcode-no-letters"
        ),
        pytest.param({"phone": "call me"}, "phone", id="phone-letters"),
        pytest.param({"phone": "12345"}, "phone", id="phone-too-short"),
        pytest.param({"notes": "x" * 4001}, "notes", id="notes-too-long"),
        pytest.param({"surname": "El Amrani"}, "surname", id="unknown-field"),
        pytest.param(
            {"trusted_person_id": "4f5a6b7c-8d9e-4f0a-9b2c-3d4e5f6a7b05"},
            "trusted_person_id",
            id="assignment-not-here",
        ),
        pytest.param({"members": []}, "members", id="no-members"),
        pytest.param({"wijk": None}, "body", id="wijk-null"),
    ],
)
async def test_invalid_changes_are_422_naming_the_field_without_echoing_it(
    client: httpx.AsyncClient, caller: MakeCaller, body: dict[str, Any], field: str
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    response = await patch(client, me, family_id, body, '"1"')
    assert response.status_code == 422, response.text
    assert field in response.text
    assert "El Amrani" not in response.text
    assert "call me" not in response.text
    assert await etag_of(client, me, family_id) == '"1"'


async def test_out_of_scope_updates_are_404_and_audited(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    for stranger in (
        caller(Role.TRUSTED_PERSON, wijken={"overvecht"}),
        caller(Role.COORDINATOR, wijken={"zuid"}),
        caller(Role.ADMIN, wijken={"overvecht"}),
    ):
        response = await patch(client, stranger, family_id, {"phone": "030 1234567"}, '"1"')
        assert response.status_code == 404, response.text
    records = await audit_of_family(intake_store, family_id, limit=20)
    denied = [r for r in records if r.action == "update-family"]
    assert len(denied) == 3
    assert {r.outcome.value for r in denied} == {"denied-or-missing"}
    assert await etag_of(client, owner, family_id) == '"1"'


async def test_a_coordinator_moves_a_family_only_between_her_wijken(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    assert (await patch(client, owner, family_id, {"wijk": "zuid"}, '"1"')).status_code == 403
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht", "zuid"})
    assert (await patch(client, coordinator, family_id, {"wijk": "west"}, '"1"')).status_code == 403
    moved = await patch(client, coordinator, family_id, {"wijk": "zuid"}, '"1"')
    assert moved.status_code == 200, moved.text
    assert moved.json()["wijk"] == "zuid"
    # Naming the current wijk is no move: the trusted person may send it back unchanged.
    same = await patch(client, owner, family_id, {"wijk": "zuid", "phone": "030 1234567"}, '"2"')
    assert same.status_code == 200, same.text
