"""GET /families: search within the caller's scope, paged by cursor (integration)."""

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


def members(first: str, surname: str) -> list[dict[str, Any]]:
    """One mother with the given names."""
    return [{"role": "mother", "birth_year": 1990, "first_name": first, "surname": surname}]


async def search(client: httpx.AsyncClient, caller: Caller, **params: Any) -> httpx.Response:
    """GET /families as `caller`."""
    return await client.get("/families", params=params, headers=caller.headers)


async def walk(client: httpx.AsyncClient, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    """Every result of a search, page by page."""
    results: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        page = await search(client, caller, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        results += page.json()["results"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return results
    raise AssertionError("the cursor never ended")


async def test_a_name_fragment_finds_families_in_the_trusted_persons_own_caseload_only(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    mine, theirs = caller(Role.TRUSTED_PERSON), caller(Role.TRUSTED_PERSON)
    hit = await registered(client, mine, members=members("Khadija", "Bouzid"))
    surname_hit = await registered(client, mine, members=members("Noor", "Bakhadi"))
    await registered(client, mine, members=members("Sara", "Jansen"))
    other = await registered(client, theirs, members=members("Khadija", "Bouzid"))

    response = await search(client, mine, name="KHAD")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["results"]] == [hit, surname_hit]
    assert body["next_cursor"] is None
    assert body["results"][0] == {
        "id": hit,
        "wijk": "overvecht",
        "trusted_person_id": mine.user_id,
        "first_names": ["Khadija"],
        "registered_at": body["results"][0]["registered_at"],
    }
    # The other trusted person's Khadija is invisible, with or without filters.
    theirs_seen = await search(client, theirs, name="khadija")
    assert [r["id"] for r in theirs_seen.json()["results"]] == [other]
    denied = await search(client, mine, trusted_person_id=theirs.user_id)
    assert denied.status_code == 403

    records = await audit_of_family(intake_store, hit, limit=10)
    assert next((r.action, r.user_id) for r in records) == ("search-family", mine.user_id)
    assert not [
        r for r in await audit_of_family(intake_store, other, limit=10) if r.user_id == mine.user_id
    ]


async def test_a_coordinator_searches_her_wijken_and_filters_within_them(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    boss = caller(Role.COORDINATOR, wijken={"zuidwest", "oost"})
    tp = caller(Role.TRUSTED_PERSON)
    in_zuidwest = await registered(client, tp, wijk="zuidwest", members=members("Imane", "Qasmi"))
    in_oost = await registered(client, tp, wijk="oost", members=members("Imane", "Qasmi"))
    await registered(client, tp, wijk="west", members=members("Imane", "Qasmi"))

    found = await walk(client, boss, name="qasmi")
    assert {r["id"] for r in found} == {in_zuidwest, in_oost}
    only_oost = await walk(client, boss, name="qasmi", wijk="oost")
    assert [r["id"] for r in only_oost] == [in_oost]
    by_person = await walk(client, boss, trusted_person_id=tp.user_id)
    assert {r["id"] for r in by_person} == {in_zuidwest, in_oost}
    assert (await search(client, boss, wijk="west")).status_code == 403


async def test_pages_walk_every_result_exactly_once(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    ids = [await registered(client, me, members=members(f"Hanan{i}", "Tahiri")) for i in range(7)]
    first = await search(client, me, name="tahiri", limit=3)
    assert len(first.json()["results"]) == 3
    assert first.json()["next_cursor"]
    found = await walk(client, me, name="tahiri", limit=3)
    assert [r["id"] for r in found] == ids  # registration order, each once
    assert len(await walk(client, me, name="tahiri", limit=1)) == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"name": "k"}, "name", id="name-too-short"),
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 101}, "limit", id="limit-too-big"),
        pytest.param({"cursor": "bm9wZQ"}, "cursor", id="forged-cursor"),
        pytest.param({"wijk": "atlantis"}, "wijk", id="unknown-wijk"),
    ],
)
async def test_invalid_search_parameters_are_422(
    client: httpx.AsyncClient, caller: MakeCaller, params: dict[str, Any], field: str
) -> None:
    response = await search(client, caller(Role.TRUSTED_PERSON), **params)
    assert response.status_code == 422, response.text
    assert field in response.text


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.FUNDER])
async def test_roles_without_casework_cannot_search(
    client: httpx.AsyncClient, caller: MakeCaller, role: Role
) -> None:
    response = await search(client, caller(role, wijken={"overvecht"}), name="fatima")
    assert response.status_code == 403
