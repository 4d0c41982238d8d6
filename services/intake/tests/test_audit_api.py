"""The access audit over HTTP, on the real broker and SQLite (integration).

Every read of a family's personal data and every write is audited, allowed or not, with the
caller's declared reason; coordinators of the wijk and admins read the audit, nobody else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from alamal_intake.audit import ACCESS_AUDIT
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import PLANTED_BIRTH_YEARS, PLANTED_NAMES, Caller, family_body
from .test_api import registered

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

AUDIT_FIELDS = {"id", "at", "user_id", "role", "action", "family_id", "outcome", "reason"}


def with_reason(caller: Caller, reason: str) -> dict[str, str]:
    """The caller's headers plus an `X-Access-Reason`."""
    return {**caller.headers, "X-Access-Reason": reason}


async def audit_of(
    client: httpx.AsyncClient, caller: Caller, family_id: str
) -> list[dict[str, Any]]:
    """GET /audit for one family as `caller`, oldest record first."""
    response = await client.get("/audit", params={"family_id": family_id}, headers=caller.headers)
    assert response.status_code == 200, response.text
    assert response.json()["family_id"] == family_id
    records: list[dict[str, Any]] = response.json()["records"]
    return records[::-1]


def summary(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(user id, action, outcome, reason) per record."""
    return [(r["user_id"], r["action"], r["outcome"], r["reason"]) for r in records]


async def test_allowed_and_denied_reads_and_writes_are_audited_with_the_reason(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    outsider = caller(Role.TRUSTED_PERSON)
    admin = caller(Role.ADMIN)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    family_id = await registered(client, owner)
    url = f"/families/{family_id}"
    body = {"purpose": "care", "granted": False, "text_version": "2026-2"}

    assert (await client.get(url, headers=with_reason(owner, "home-visit"))).status_code == 200
    assert (await client.get(url, headers=outsider.headers)).status_code == 404
    assert (await client.get(url, headers=with_reason(admin, "curious"))).status_code == 404
    consents = f"{url}/consents"
    assert (await client.get(consents, headers=owner.headers)).status_code == 200
    assert (await client.get(consents, headers=outsider.headers)).status_code == 404
    posted = await client.post(consents, json=body, headers=with_reason(owner, "phone-call"))
    assert posted.status_code == 201
    assert (await client.post(consents, json=body, headers=outsider.headers)).status_code == 404

    records = await audit_of(client, coordinator, family_id)
    allowed, refused = "allowed", "denied-or-missing"
    assert summary(records) == [
        (owner.user_id, "register-family", allowed, "casework"),
        (owner.user_id, "read-family", allowed, "home-visit"),
        (outsider.user_id, "read-family", refused, "casework"),
        (admin.user_id, "read-family", refused, "curious"),
        (owner.user_id, "read-consents", allowed, "casework"),
        (outsider.user_id, "read-consents", refused, "casework"),
        (owner.user_id, "record-consent", allowed, "phone-call"),
        (outsider.user_id, "record-consent", refused, "casework"),
    ]
    assert [r["role"] for r in records[2:4]] == ["trusted_person", "admin"]
    for record in records:
        assert set(record) == AUDIT_FIELDS
        assert record["family_id"] == family_id
        uuid.UUID(record["id"])
        assert datetime.fromisoformat(record["at"]).tzinfo is not None
    times = [datetime.fromisoformat(r["at"]) for r in records]
    assert times == sorted(times)


async def test_the_audit_holds_no_personal_data(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    await client.get(f"/families/{family_id}", headers=owner.headers)
    await client.get(f"/families/{family_id}/consents", headers=owner.headers)
    response = await client.get(
        "/audit", params={"family_id": family_id}, headers=caller(Role.ADMIN).headers
    )
    assert response.status_code == 200
    assert len(response.json()["records"]) == 3
    for planted in (*PLANTED_NAMES, "tussen-in"):
        assert planted not in response.text
    assert "granted" not in response.text  # not even the consent answers
    # Birth years are checked as values: as digits they also occur inside ids and timestamps.
    values = [v for record in response.json()["records"] for v in record.values()]
    for year in PLANTED_BIRTH_YEARS:
        assert year not in values
        assert str(year) not in values


async def test_attempts_on_a_missing_family_are_audited_for_admins(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    prober = caller(Role.COORDINATOR, wijken={"overvecht"})
    missing_id = str(uuid.uuid4())
    response = await client.get(f"/families/{missing_id}", headers=with_reason(prober, "probe"))
    assert response.status_code == 404
    records = await audit_of(client, caller(Role.ADMIN), missing_id)
    assert summary(records) == [(prober.user_id, "read-family", "denied-or-missing", "probe")]
    # A coordinator cannot use the audit to learn whether an id exists.
    hidden = await client.get("/audit", params={"family_id": missing_id}, headers=prober.headers)
    assert hidden.status_code == 404


async def test_a_refused_registration_is_audited_without_a_family(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    coordinator = caller(Role.COORDINATOR, wijken={"zuid"})
    response = await client.post(
        "/families",
        json=family_body(str(uuid.uuid4())),
        headers=with_reason(coordinator, "new-family"),
    )
    assert response.status_code == 403  # Overvecht is not hers
    stored = await intake_store.find(ACCESS_AUDIT, {"user_id": coordinator.user_id})
    assert [
        (r.data["action"], r.data["family_id"], r.data["outcome"], r.data["reason"]) for r in stored
    ] == [("register-family", None, "denied-or-missing", "new-family")]


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param("Home Visit", id="spaces-and-capitals"),
        pytest.param("", id="empty"),
        pytest.param("x" * 41, id="too-long"),
    ],
)
async def test_an_invalid_reason_is_422_naming_the_header(
    client: httpx.AsyncClient, caller: MakeCaller, reason: str
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    headers = with_reason(owner, reason)
    responses = [
        await client.get(f"/families/{family_id}", headers=headers),
        await client.get(f"/families/{family_id}/consents", headers=headers),
        await client.post(
            f"/families/{family_id}/consents",
            json={"purpose": "care", "granted": True, "text_version": "2026-2"},
            headers=headers,
        ),
        await client.post("/families", json=family_body(), headers=headers),
    ]
    for response in responses:
        assert response.status_code == 422, response.text
        assert response.json()["fields"] == ["X-Access-Reason"]
        if reason:
            assert reason not in response.text


@pytest.mark.parametrize(
    ("role", "wijken", "status"),
    [
        pytest.param(Role.COORDINATOR, {"overvecht"}, 200, id="coordinator-of-the-wijk"),
        pytest.param(Role.COORDINATOR, {"zuid", "west"}, 404, id="coordinator-of-another-wijk"),
        pytest.param(Role.ADMIN, set(), 200, id="admin"),
        pytest.param(Role.TRUSTED_PERSON, {"overvecht"}, 403, id="trusted-person"),
        pytest.param(Role.OPERATOR, set(), 403, id="operator"),
        pytest.param(Role.FUNDER, {"overvecht"}, 403, id="funder"),
    ],
)
async def test_who_reads_the_audit(
    client: httpx.AsyncClient, caller: MakeCaller, role: Role, wijken: set[str], status: int
) -> None:
    family_id = await registered(client, caller(Role.TRUSTED_PERSON))
    reader = caller(role, wijken=wijken)
    response = await client.get("/audit", params={"family_id": family_id}, headers=reader.headers)
    assert response.status_code == status
    if status == 404:
        missing = await client.get(
            "/audit", params={"family_id": str(uuid.uuid4())}, headers=reader.headers
        )
        assert response.content == missing.content


async def test_the_trusted_person_cannot_read_her_own_familys_audit(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    response = await client.get("/audit", params={"family_id": family_id}, headers=owner.headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="no-family-id"),
        pytest.param({"family_id": "42"}, id="family-id-not-a-uuid"),
    ],
)
async def test_the_audit_needs_a_family_id(
    client: httpx.AsyncClient, caller: MakeCaller, params: dict[str, str]
) -> None:
    response = await client.get("/audit", params=params, headers=caller(Role.ADMIN).headers)
    assert response.status_code == 422
    assert response.json()["fields"] == ["family_id"]


async def test_the_audit_is_newest_first_and_limited(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    for reason in ("first", "second", "third"):
        await client.get(f"/families/{family_id}", headers=with_reason(owner, reason))
    response = await client.get(
        "/audit", params={"family_id": family_id, "limit": 2}, headers=caller(Role.ADMIN).headers
    )
    assert [r["reason"] for r in response.json()["records"]] == ["third", "second"]
