"""Intake's HTTP API against the real broker and a real SQLite store (integration)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from alamal_runtime.auth import Role, generate_keypair, mint_token

from .conftest import PLANTED_NAMES, Caller, family_body

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]


async def register(client: httpx.AsyncClient, caller: Caller, **body: Any) -> httpx.Response:
    """POST /families as `caller` with a valid body (overridable)."""
    return await client.post("/families", json=family_body(**body), headers=caller.headers)


async def registered(client: httpx.AsyncClient, caller: Caller, **body: Any) -> str:
    """Register a family and return its id."""
    response = await register(client, caller, **body)
    assert response.status_code == 201, response.text
    family_id: str = response.json()["id"]
    return family_id


async def test_register_returns_201_with_location_and_the_family(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    response = await register(client, me)
    assert response.status_code == 201, response.text
    family = response.json()
    assert uuid.UUID(family["id"]).version == 4
    assert response.headers["Location"] == f"/families/{family['id']}"
    assert family["trusted_person_id"] == me.user_id  # defaults to the caller
    assert family["registered_by"] == me.user_id
    assert family["wijk"] == "overvecht"
    assert [m["first_name"] for m in family["members"]] == ["Fatima", "Yasmine"]
    assert [(c["purpose"], c["granted"], c["recorded_by"]) for c in family["consents"]] == [
        ("care", True, me.user_id),
        ("reporting", False, me.user_id),
    ]


async def test_the_location_returns_the_stored_family_to_the_trusted_person(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    created = await register(client, me)
    fetched = await client.get(created.headers["Location"], headers=me.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()


async def test_a_coordinator_of_the_wijk_reads_the_family(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    family_id = await registered(client, caller(Role.TRUSTED_PERSON))
    coordinator = caller(Role.COORDINATOR, wijken={"zuid", "overvecht"})
    response = await client.get(f"/families/{family_id}", headers=coordinator.headers)
    assert response.status_code == 200
    assert response.json()["id"] == family_id


async def test_a_coordinator_registers_for_a_trusted_person_in_her_wijk(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    coordinator = caller(Role.COORDINATOR, wijken={"zuidwest"})
    trusted = caller(Role.TRUSTED_PERSON)
    response = await register(
        client, coordinator, trusted_person_id=trusted.user_id, wijk="zuidwest"
    )
    assert response.status_code == 201, response.text
    assert response.json()["trusted_person_id"] == trusted.user_id
    assert response.json()["registered_by"] == coordinator.user_id
    fetched = await client.get(response.headers["Location"], headers=trusted.headers)
    assert fetched.status_code == 200


@pytest.mark.parametrize(
    ("role", "wijken"),
    [
        pytest.param(Role.TRUSTED_PERSON, {"overvecht"}, id="another-trusted-person"),
        pytest.param(Role.COORDINATOR, {"zuid", "west"}, id="coordinator-of-another-wijk"),
        pytest.param(Role.ADMIN, set(), id="admin"),
        pytest.param(Role.OPERATOR, set(), id="operator"),
        pytest.param(Role.FUNDER, {"overvecht"}, id="funder"),
    ],
)
async def test_out_of_scope_reads_look_exactly_like_a_missing_family(
    client: httpx.AsyncClient, caller: MakeCaller, role: Role, wijken: set[str]
) -> None:
    family_id = await registered(client, caller(Role.TRUSTED_PERSON))
    outsider = caller(role, wijken=wijken)
    hidden = await client.get(f"/families/{family_id}", headers=outsider.headers)
    missing = await client.get(f"/families/{uuid.uuid4()}", headers=outsider.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert hidden.headers["content-type"] == missing.headers["content-type"]


async def test_a_random_id_is_404_even_for_its_would_be_owner(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    response = await client.get(
        f"/families/{uuid.uuid4()}", headers=caller(Role.TRUSTED_PERSON).headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "family not found"}


async def test_a_family_id_that_is_no_uuid_is_422(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    response = await client.get("/families/42", headers=caller(Role.TRUSTED_PERSON).headers)
    assert response.status_code == 422
    assert response.json()["fields"] == ["family_id"]


@pytest.mark.parametrize(
    ("role", "wijken", "assign_to_other"),
    [
        pytest.param(Role.TRUSTED_PERSON, {"overvecht"}, True, id="trusted-person-for-another"),
        pytest.param(Role.COORDINATOR, {"zuid"}, False, id="coordinator-outside-her-wijken"),
        pytest.param(Role.COORDINATOR, {"zuid"}, True, id="coordinator-outside-for-another"),
        pytest.param(Role.ADMIN, set(), True, id="admin"),
        pytest.param(Role.OPERATOR, set(), False, id="operator"),
        pytest.param(Role.FUNDER, {"overvecht"}, False, id="funder"),
    ],
)
async def test_registering_out_of_scope_is_403(
    client: httpx.AsyncClient,
    caller: MakeCaller,
    role: Role,
    wijken: set[str],
    assign_to_other: bool,
) -> None:
    me = caller(role, wijken=wijken)
    other = str(uuid.uuid4()) if assign_to_other else None
    response = await register(client, me, trusted_person_id=other)
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not.a.token"}, id="garbage-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not-bearer"),
    ],
)
async def test_requests_without_a_valid_token_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for response in (
        await client.post("/families", json=family_body(), headers=headers),
        await client.get(f"/families/{uuid.uuid4()}", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_token_for_another_service_is_401(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON, audience="cases")
    response = await client.post("/families", json=family_body(), headers=me.headers)
    assert response.status_code == 401


async def test_an_expired_token_is_401(client: httpx.AsyncClient, caller: MakeCaller) -> None:
    me = caller(Role.TRUSTED_PERSON, now=1_000_000_000.0)
    response = await client.post("/families", json=family_body(), headers=me.headers)
    assert response.status_code == 401


async def test_a_token_signed_with_another_key_is_401(client: httpx.AsyncClient) -> None:
    stranger, _ = generate_keypair()
    token = mint_token(stranger, user_id=str(uuid.uuid4()), role=Role.COORDINATOR, wijken={"oost"})
    response = await client.post(
        "/families", json=family_body(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_invalid_bodies_are_422_naming_each_field_without_echoing_values(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    body = family_body(wijk="kanaleneiland", languages=["NL"], nickname="Fafa")
    body["members"][0]["birth_year"] = 9999
    body["members"][1]["first_name"] = PLANTED_NAMES[2] * 20
    response = await client.post(
        "/families", json=body, headers=caller(Role.TRUSTED_PERSON).headers
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["fields"] == sorted(
        [
            "languages.0",
            "members.0.birth_year",
            "members.1.first_name",
            "nickname",
            "wijk",
        ]
    )
    for planted in (PLANTED_NAMES[0], PLANTED_NAMES[2], "9999", "kanaleneiland", "Fafa"):
        assert planted not in response.text


async def test_no_members_is_422_naming_members(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    response = await client.post(
        "/families", json=family_body(members=[]), headers=caller(Role.TRUSTED_PERSON).headers
    )
    assert response.status_code == 422
    assert response.json()["fields"] == ["members"]


async def test_malformed_json_is_422(client: httpx.AsyncClient, caller: MakeCaller) -> None:
    headers = {**caller(Role.TRUSTED_PERSON).headers, "content-type": "application/json"}
    response = await client.post("/families", content=b'{"members": [', headers=headers)
    assert response.status_code == 422


async def test_a_huge_body_is_413_before_it_is_read(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    body = family_body()
    body["members"][0]["first_name"] = "F" * (70 * 1024)
    response = await client.post(
        "/families", json=body, headers=caller(Role.TRUSTED_PERSON).headers
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


async def test_a_huge_chunked_body_is_413(client: httpx.AsyncClient, caller: MakeCaller) -> None:
    chunk = json.dumps(family_body()).encode()[:-1] + b', "pad": "' + b"x" * 8192

    async def stream() -> AsyncIterator[bytes]:
        yield chunk
        for _ in range(10):
            yield b"x" * 8192
        yield b'"}'

    headers = {**caller(Role.TRUSTED_PERSON).headers, "content-type": "application/json"}
    response = await client.post("/families", content=stream(), headers=headers)
    assert "content-length" not in response.request.headers  # streamed: counted while read
    assert response.status_code == 413


async def test_health_reports_store_and_broker_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"store": "ok", "broker": "ok"}}


async def test_a_coordinator_must_name_the_trusted_person(
    client: httpx.AsyncClient, caller: Callable[..., Caller]
) -> None:
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    response = await client.post("/families", json=family_body(), headers=coordinator.headers)
    assert response.status_code == 422
    assert response.json()["fields"] == ["trusted_person_id"]
