"""Every intake route that reads or writes a family's data leaves an access-audit record (who,
role, action, family, outcome, reason), for the allowed attempt and for a refused one.

The routes are walked from the app's own OpenAPI document, so a new route fails here until it
has a cell in the access matrix (which says how to call it) or an exemption with its reason; a
route whose audit call is removed fails with the route named.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import Caller
from .test_access_matrix import CELLS, OK, Cell, make_world

pytestmark = pytest.mark.integration

EXEMPT_PREFIXES = ("/health/",)
"""Runtime probes: no family data."""
EXEMPT = {("GET", "/audit"): "reads the audit itself (admins and the wijk's coordinators)"}
REASON = "audit-coverage"
"""Sent as X-Access-Reason: every record must carry it back."""
ROLES = {
    "holder": Role.TRUSTED_PERSON,
    "father": Role.TRUSTED_PERSON,
    "other_tp": Role.TRUSTED_PERSON,
    "coord": Role.COORDINATOR,
    "coord_other": Role.COORDINATOR,
    "admin": Role.ADMIN,
    "operator": Role.OPERATOR,
    "funder": Role.FUNDER,
    "privacy": Role.PRIVACY_OFFICER,
}
WIJKEN = {"coord": {"overvecht", "oost"}, "coord_other": {"west"}}


def routes(client: httpx.AsyncClient) -> set[tuple[str, str]]:
    """(method, path template) of every route in the app's OpenAPI document."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    schema = transport.app.openapi()  # type: ignore[attr-defined]
    return {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}


def cells_for(method: str, path: str) -> list[tuple[Cell, dict[str, str]]]:
    """The access-matrix cells that call this route."""
    return [
        (c, r)
        for c, r in CELLS
        if c.method == method
        and c.path.split("?")[0].replace("{unknown_id}", "{family_id}") == path
    ]


async def attempt(
    client: httpx.AsyncClient,
    store: Store,
    cell: Cell,
    who: Caller,
    holder: Caller,
    father: Caller,
    setup: Caller,
    requester: Caller,
) -> tuple[int, str | None, list[dict[str, object]]]:
    """Call the cell's route as `who` on a fresh family (with an open erasure request by
    `requester` when the cell asks for one); (status, family, `who`'s records)."""
    opened = requester if cell.open_request else None
    world = await make_world(client, holder, father, setup, opened) if cell.needs_family else None
    values = {
        "holder": holder.user_id,
        "newcomer": str(uuid.uuid4()),
        "unknown_id": str(uuid.uuid4()),
        "request_id": (world and world.request_id) or str(uuid.uuid4()),
        "family_id": world.family_id if world else "",
        "surname": world.surname if world else "",
    }
    headers = who.headers | {"X-Access-Reason": REASON}
    if cell.if_match == "current" and world is not None:
        headers["If-Match"] = world.etag
    elif cell.if_match == "stale":
        headers["If-Match"] = '"1"'
    answer = await client.request(
        cell.method,
        cell.path.format(**values),
        json=cell.body(values) if callable(cell.body) else cell.body,
        headers=headers,
    )
    records = await store.find("access_audit", {"user_id": who.user_id}, limit=500)
    return answer.status_code, world.family_id if world else None, [r.data for r in records]


async def test_every_family_route_audits_allowed_and_refused_attempts(
    client: httpx.AsyncClient, intake_store: Store, caller: Callable[..., Caller]
) -> None:
    missing: list[str] = []
    checked = 0
    for method, path in sorted(routes(client)):
        if (method, path) in EXEMPT or path.startswith(EXEMPT_PREFIXES):
            continue
        cells = cells_for(method, path)
        if not cells:
            missing.append(f"{method} {path}: no access-matrix cell says how to call it")
            continue
        allowed = [(c, r, p) for c, r in cells for p in ROLES if r.get(p) == OK][:1]
        refused = [(c, r, p) for c, r in cells for p in ROLES if r.get(p, "404") in ("404", "403")][
            :1
        ]
        if not allowed or not refused:
            missing.append(f"{method} {path}: the matrix names no allowed and refused persona")
        for (cell, _, persona), outcome in [(a, "allowed") for a in allowed] + [
            (x, "denied-or-missing") for x in refused
        ]:
            holder, father = caller(Role.TRUSTED_PERSON), caller(Role.TRUSTED_PERSON)
            setup = caller(Role.COORDINATOR, wijken={"overvecht"})
            requester = caller(Role.PRIVACY_OFFICER, wijken={"overvecht"})
            people = {"holder": holder, "father": father} | {
                p: caller(role, wijken=WIJKEN.get(p, {"overvecht"}))
                for p, role in ROLES.items()
                if p not in ("holder", "father")
            }
            status, family_id, records = await attempt(
                client, intake_store, cell, people[persona], holder, father, setup, requester
            )
            checked += 1
            mine = [
                r
                for r in records
                if r["outcome"] == outcome
                and r["reason"] == REASON
                and r["role"] == ROLES[persona].value
                and (outcome != "allowed" or family_id is None or r["family_id"] == family_id)
            ]
            if not mine:
                missing.append(f"{method} {path} as {persona} ({status}): no {outcome} record")
    assert missing == [], "\n".join(missing)
    print(f"intake: {checked} audited attempts")  # noqa: T201 - the count is reported
