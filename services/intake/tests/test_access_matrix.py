"""Every role x every intake endpoint: who gets the data, who gets 404, 403 or 401 (integration).

The expectations below are written out by hand from DESIGN.md (Roles) and the routes' documented
answers, not derived from `access`: removing or loosening any rule there makes cells of this
matrix fail. Each cell runs on a fresh family in Overvecht (registered by its trusted person,
with a father in Tussen In who has his own trusted person), so a write in one cell never
changes another cell's answer. Members carry a surname unique to the family, so a name search
finds exactly that family however many others the module's store holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from alamal_runtime.auth import Role

from .conftest import Caller, family_body

pytestmark = pytest.mark.integration

PERSONAS = (
    "holder",  # the family's trusted person
    "father",  # the father's trusted person in Tussen In
    "other_tp",  # another trusted person
    "coord",  # a coordinator of the family's wijk (Overvecht) and of Oost
    "coord_other",  # a coordinator of another wijk (West)
    "admin",
    "operator",
    "funder",
    "privacy",  # a privacy officer: AVG requests only, no casework
    "anonymous",
)
WITH_TOKEN = PERSONAS[:-1]

OK, EMPTY, HIDDEN, FORBIDDEN, NO_TOKEN = "ok", "empty", "404", "403", "401"
"""`ok`: 2xx showing the family's data; `empty`: 2xx without it; else the status code."""
STALE, NO_IF_MATCH, INVALID = "409", "428", "422"

FATHER = {"role": "father", "birth_year": 1979, "first_name": "Driss"}


@dataclass(frozen=True)
class World:
    """One fresh family: its id, current ETag and the surname only its members carry."""

    family_id: str
    etag: str
    surname: str
    request_id: str | None = None
    """An open erasure request for the family, when the cell asks for one."""


@dataclass(frozen=True)
class Cell:
    """One endpoint: how to call it and how to tell its data from an empty answer."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | Callable[[dict[str, str]], dict[str, Any]] | None = None
    """The JSON body, or a function of the cell's ids (`holder`, `newcomer`) that makes it."""
    if_match: str | None = None
    """`current`: the family's ETag; `stale`: an older version; None: no If-Match header."""
    rows: str | None = None
    """For lists: the field holding the rows; `ok` when a row's `key` is the family's id."""
    key: str = "id"
    needs_family: bool = True
    open_request: bool = False
    """The family has an open erasure request (another privacy officer's): `{request_id}`."""


READ = {"holder": OK, "father": OK, "coord": OK}
"""Whoever has the family in her caseload or wijk; everyone else with a token gets 404."""
ASSIGN = {"holder": FORBIDDEN, "father": FORBIDDEN, "coord": OK}
BACK_OFFICE = dict.fromkeys(("admin", "operator", "funder", "privacy"), FORBIDDEN)
SEARCH = {
    "holder": OK,
    "father": OK,
    "other_tp": EMPTY,
    "coord": OK,
    "coord_other": EMPTY,
} | BACK_OFFICE
PUBLIC = dict.fromkeys(PERSONAS, OK)
NOT_STAFF_TOOLS = dict.fromkeys(
    ("holder", "father", "other_tp", "operator", "funder", "privacy"), FORBIDDEN
)
PRIVACY_ONLY = dict.fromkeys(
    ("holder", "father", "other_tp", "coord", "coord_other", "admin", "operator", "funder"),
    FORBIDDEN,
)
"""Privacy routes: every role but the privacy officer gets 403 (and the refusal is audited)."""
DECIDERS = {
    **dict.fromkeys(("holder", "father", "other_tp", "admin", "operator", "funder"), FORBIDDEN),
    "coord": HIDDEN,
    "coord_other": HIDDEN,
    "privacy": HIDDEN,
}
"""Deciding on (or reading) an erasure: privacy officers and coordinators; the id is unknown."""
DECIDERS_OPEN = DECIDERS | {"coord": OK, "privacy": OK}
"""The same on a family's open request: a coordinator of its wijk or another privacy officer."""

CELLS: list[tuple[Cell, dict[str, str]]] = [
    (
        Cell(
            "register for the holder",
            "POST",
            "/families",
            lambda v: family_body(v["holder"]),
            needs_family=False,
        ),
        {
            "holder": OK,
            "father": FORBIDDEN,
            "other_tp": FORBIDDEN,
            "coord": OK,
            "coord_other": FORBIDDEN,
        }
        | BACK_OFFICE,
    ),
    (
        Cell(
            "register for the holder in west",
            "POST",
            "/families",
            lambda v: family_body(v["holder"], wijk="west"),
            needs_family=False,
        ),
        {
            "holder": OK,  # a trusted person registers for herself in any wijk
            "father": FORBIDDEN,
            "other_tp": FORBIDDEN,
            "coord": FORBIDDEN,
            "coord_other": OK,
        }
        | BACK_OFFICE,
    ),
    (
        Cell(
            "register naming nobody",
            "POST",
            "/families",
            family_body(),
            needs_family=False,
        ),
        {
            "holder": OK,
            "father": OK,
            "other_tp": OK,
            "coord": INVALID,  # a coordinator must name the trusted person
            "coord_other": FORBIDDEN,
        }
        | BACK_OFFICE,
    ),
    (Cell("read family", "GET", "/families/{family_id}"), READ),
    (Cell("read unknown family", "GET", "/families/{unknown_id}", needs_family=False), {}),
    (
        Cell(
            "update family",
            "PATCH",
            "/families/{family_id}",
            {"notes": "Moved house", "phone": "+31 6 1234 5678"},
            if_match="current",
        ),
        READ,
    ),
    (
        Cell(
            "update without If-Match",
            "PATCH",
            "/families/{family_id}",
            {"notes": "Moved house"},
        ),
        dict.fromkeys(WITH_TOKEN, NO_IF_MATCH),  # asked before anything is read
    ),
    (
        Cell(
            "update stale If-Match",
            "PATCH",
            "/families/{family_id}",
            {"notes": "Moved house"},
            if_match="stale",
        ),
        {"holder": STALE, "father": STALE, "coord": STALE},  # the scope is checked first
    ),
    (
        Cell(
            "move into the coordinator's other wijk",
            "PATCH",
            "/families/{family_id}",
            {"wijk": "oost"},
            if_match="current",
        ),
        {"holder": FORBIDDEN, "father": FORBIDDEN, "coord": OK},
    ),
    (
        Cell(
            "move into another coordinator's wijk",
            "PATCH",
            "/families/{family_id}",
            {"wijk": "west"},
            if_match="current",
        ),
        {"holder": FORBIDDEN, "father": FORBIDDEN, "coord": FORBIDDEN},
    ),
    (Cell("search by name", "GET", "/families?name={surname}", rows="results"), SEARCH),
    (
        Cell(
            "search by name in overvecht",
            "GET",
            "/families?name={surname}&wijk=overvecht",
            rows="results",
        ),
        SEARCH | {"coord_other": FORBIDDEN},
    ),
    (
        Cell(
            "search by name and holder",
            "GET",
            "/families?name={surname}&trusted_person_id={holder}",
            rows="results",
        ),
        SEARCH | {"father": FORBIDDEN, "other_tp": FORBIDDEN},
    ),
    (
        Cell(
            "record consent",
            "POST",
            "/families/{family_id}/consents",
            {"purpose": "reporting", "granted": True, "text_version": "2026-2"},
        ),
        READ,
    ),
    (Cell("read consents", "GET", "/families/{family_id}/consents"), READ),
    (
        Cell(
            "assign trusted person",
            "POST",
            "/families/{family_id}/assignment",
            lambda v: {"trusted_person_id": v["newcomer"]},
        ),
        ASSIGN,
    ),
    (
        Cell(
            "assign father's trusted person",
            "POST",
            "/families/{family_id}/assignment",
            lambda v: {"father_trusted_person_id": v["newcomer"]},
        ),
        ASSIGN,
    ),
    (
        Cell("read audit", "GET", "/audit?family_id={family_id}", rows="records", key="family_id"),
        # QUESTION: DESIGN.md gives an admin "no casework by default", yet she reads the audit of
        # any family in any wijk: that the family exists and which trusted persons work with it.
        NOT_STAFF_TOOLS | {"coord": OK, "admin": OK},
    ),
    (
        Cell(
            "audit of unknown id",
            "GET",
            "/audit?family_id={unknown_id}",
            rows="records",
            key="family_id",
            needs_family=False,
        ),
        NOT_STAFF_TOOLS | {"admin": EMPTY},
    ),
    (
        Cell(
            "privacy officer finds a family",
            "GET",
            "/privacy/families?name={surname}",
            rows="results",
            key="family_id",
        ),
        PRIVACY_ONLY | {"privacy": OK},
    ),
    (Cell("one family", "GET", "/privacy/families/{family_id}"), PRIVACY_ONLY | {"privacy": OK}),
    (
        Cell("one family of unknown id", "GET", "/privacy/families/{unknown_id}"),
        PRIVACY_ONLY | {"privacy": HIDDEN},
    ),
    (Cell("export", "GET", "/privacy/families/{family_id}/export"), PRIVACY_ONLY | {"privacy": OK}),
    (
        Cell("export of unknown id", "GET", "/privacy/families/{unknown_id}/export"),
        PRIVACY_ONLY | {"privacy": HIDDEN},
    ),
    (
        Cell(
            "request erasure",
            "POST",
            "/privacy/erasures",
            lambda v: {
                "family_id": v["family_id"],
                "reason": "family-request",
                "basis": "objection",
            },
        ),
        PRIVACY_ONLY | {"privacy": OK},
    ),
    (Cell("approve erasure", "POST", "/privacy/erasures/{request_id}/approve"), DECIDERS),
    (Cell("reject erasure", "POST", "/privacy/erasures/{request_id}/reject"), DECIDERS),
    (Cell("read erasure", "GET", "/privacy/erasures/{request_id}"), DECIDERS),
    (
        Cell(
            "approve open erasure",
            "POST",
            "/privacy/erasures/{request_id}/approve",
            open_request=True,
        ),
        DECIDERS_OPEN,
    ),
    (
        Cell(
            "reject open erasure",
            "POST",
            "/privacy/erasures/{request_id}/reject",
            open_request=True,
        ),
        DECIDERS_OPEN,
    ),
    (
        Cell("read open erasure", "GET", "/privacy/erasures/{request_id}", open_request=True),
        DECIDERS_OPEN,
    ),
    (
        Cell(
            "list open erasures",
            "GET",
            "/privacy/erasures",
            rows="results",
            key="family_id",
            open_request=True,
        ),
        DECIDERS_OPEN | {"coord_other": EMPTY},
    ),
    (
        Cell("list erasures", "GET", "/privacy/erasures", rows="results", key="family_id"),
        DECIDERS | dict.fromkeys(("coord", "coord_other", "privacy"), EMPTY),
    ),
    (Cell("liveness", "GET", "/health/live", needs_family=False), PUBLIC),
    (Cell("readiness", "GET", "/health/ready", needs_family=False), PUBLIC),
]


def expected(rules: dict[str, str], persona: str) -> str:
    """The rule's answer for a persona; anything unnamed is hidden (404), or 401 without token."""
    if persona == "anonymous":
        return rules.get(persona, NO_TOKEN)
    return rules.get(persona, HIDDEN)


async def make_world(
    client: httpx.AsyncClient,
    holder: Caller,
    father: Caller,
    setup: Caller,
    requester: Caller | None = None,
) -> World:
    """A fresh family of `holder` in Overvecht whose father `father` supports (version 2); with
    a `requester` (a privacy officer), an open erasure request for it too."""
    surname = f"Zz{uuid.uuid4().hex[:12]}"
    members = [{**m, "surname": surname} for m in [*family_body()["members"], FATHER]]
    registered = await client.post(
        "/families", json=family_body(members=members), headers=holder.headers
    )
    assert registered.status_code == 201, registered.text
    family_id = registered.json()["id"]
    assigned = await client.post(
        f"/families/{family_id}/assignment",
        json={"father_trusted_person_id": father.user_id},
        headers=setup.headers,
    )
    assert assigned.status_code == 200, assigned.text
    request_id = None
    if requester is not None:
        body = {"family_id": family_id, "reason": "family-request", "basis": "objection"}
        requested = await client.post("/privacy/erasures", json=body, headers=requester.headers)
        assert requested.status_code == 201, requested.text
        request_id = requested.json()["id"]
    return World(family_id, assigned.headers["ETag"], surname, request_id)


def outcome(response: httpx.Response, cell: Cell, world: World | None) -> str:
    """Classify a response as ok / empty / its status code."""
    if response.status_code >= 300:
        return str(response.status_code)
    if cell.rows is None:
        return OK
    rows = response.json()[cell.rows]
    shown = world is not None and any(r[cell.key] == world.family_id for r in rows)
    return OK if shown else EMPTY


@pytest.mark.parametrize(("cell", "rules"), CELLS, ids=[c.name.replace(" ", "-") for c, _ in CELLS])
async def test_role_by_endpoint(
    client: httpx.AsyncClient,
    caller: Callable[..., Caller],
    cell: Cell,
    rules: dict[str, str],
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    father = caller(Role.TRUSTED_PERSON)
    setup = caller(Role.COORDINATOR, wijken={"overvecht"})
    personas: dict[str, dict[str, str]] = {
        "holder": holder.headers,
        "father": father.headers,
        "other_tp": caller(Role.TRUSTED_PERSON).headers,
        "coord": caller(Role.COORDINATOR, wijken={"overvecht", "oost"}).headers,
        "coord_other": caller(Role.COORDINATOR, wijken={"west"}).headers,
        "admin": caller(Role.ADMIN, wijken={"overvecht"}).headers,
        "operator": caller(Role.OPERATOR, wijken={"overvecht"}).headers,
        "funder": caller(Role.FUNDER, wijken={"overvecht"}).headers,
        "privacy": caller(Role.PRIVACY_OFFICER, wijken={"overvecht"}).headers,
        "anonymous": {},
    }
    requester = caller(Role.PRIVACY_OFFICER) if cell.open_request else None
    got: dict[str, str] = {}
    for persona in PERSONAS:
        world = (
            await make_world(client, holder, father, setup, requester)
            if cell.needs_family
            else None
        )
        values = {
            "holder": holder.user_id,
            "newcomer": str(uuid.uuid4()),
            "unknown_id": str(uuid.uuid4()),
            "request_id": (world and world.request_id) or str(uuid.uuid4()),
            "family_id": world.family_id if world else "",
            "surname": world.surname if world else "",
        }
        headers = dict(personas[persona])
        if cell.if_match == "current" and world is not None:
            headers["If-Match"] = world.etag
        elif cell.if_match == "stale":
            headers["If-Match"] = '"1"'
        response = await client.request(
            cell.method,
            cell.path.format(**values),
            json=cell.body(values) if callable(cell.body) else cell.body,
            headers=headers,
        )
        got[persona] = outcome(response, cell, world)
    assert got == {p: expected(rules, p) for p in PERSONAS}


def test_the_matrix_covers_every_route(client: httpx.AsyncClient) -> None:
    """A route added to intake without a row in this matrix fails here."""
    transport = client._transport  # the ASGI transport built by the `client` fixture
    assert isinstance(transport, httpx.ASGITransport)
    schema = transport.app.openapi()  # type: ignore[attr-defined]
    served = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    covered = {
        (c.method, c.path.split("?")[0].replace("{unknown_id}", "{family_id}")) for c, _ in CELLS
    }
    assert served == covered
