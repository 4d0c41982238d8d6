"""Every cases route that reads or writes a family's data leaves an access-audit record (who,
role, action, family, outcome, reason), for the allowed attempt and for a refused one.

The routes are walked from the app's own OpenAPI document, so a new route fails here until it
has a cell in the access matrix (which says how to call it) or an exemption with its reason; a
route whose audit call is removed fails with the route named.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from alamal_cases.domain import local_today
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import Caller
from .test_access_matrix import CELLS, OK, Cell, make_world

pytestmark = pytest.mark.integration

EXEMPT = {
    ("GET", "/caseloads"): "counts of cases per trusted person: no family is named",
    ("GET", "/audit"): "reads the audit itself (admins and the wijk's coordinators)",
}
"""Routes that read or write no family's data, with the reason."""
REASON = "audit-coverage"
"""Sent as X-Access-Reason: every record must carry it back."""


def template(path: str) -> str:
    """A route's shape: the path without its query, every parameter as `{}`."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def routes(client: httpx.AsyncClient) -> set[tuple[str, str]]:
    """(method, shape) of every route in the app's OpenAPI document."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    schema = transport.app.openapi()  # type: ignore[attr-defined]
    return {
        (method.upper(), template(path))
        for path, operations in schema["paths"].items()
        for method in operations
    }


def cell_for(method: str, shape: str) -> tuple[Cell, dict[str, str]] | None:
    """The access-matrix cell that calls this route, if any."""
    return next(
        ((c, r) for c, r in CELLS if c.method == method and template(c.path) == shape), None
    )


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
"""The matrix's personas that carry a token (without one there is nobody to record)."""


def personas(caller: Callable[..., Caller], holder: Caller, father: Caller) -> dict[str, Caller]:
    """A fresh caller per persona (the case's own trusted persons given)."""
    wijken = {"coord_other": {"west"}}
    return {"holder": holder, "father": father} | {
        p: caller(role, wijken=wijken.get(p, {"overvecht"}))
        for p, role in ROLES.items()
        if p not in ("holder", "father")
    }


async def attempt(
    client: httpx.AsyncClient,
    store: Store,
    cell: Cell,
    who: Caller,
    holder: Caller,
    father: Caller,
) -> tuple[int, str, list[dict[str, object]]]:
    """Call the cell's route as `who` on a fresh world; (status, family, `who`'s records)."""
    world = await make_world(store, cell, holder.user_id, father.user_id)
    values = {
        **world.__dict__,
        "today": local_today(datetime.now(UTC)).isoformat(),
        "holder_id": holder.user_id,
    }
    body = None
    if cell.body is not None:
        body = {k: v.format(**values) if isinstance(v, str) else v for k, v in cell.body.items()}
    answer = await client.request(
        cell.method,
        cell.path.format(**values),
        json=body,
        headers=who.headers | {"X-Access-Reason": REASON},
    )
    records = await store.find("access_audit", {"user_id": who.user_id}, limit=500)
    return answer.status_code, world.family_id, [r.data for r in records]


async def test_every_family_route_audits_allowed_and_refused_attempts(
    client: httpx.AsyncClient, cases_store: Store, caller: Callable[..., Caller]
) -> None:
    missing: list[str] = []
    checked = 0
    for method, shape in sorted(routes(client)):
        if (method, shape) in EXEMPT or shape.startswith("/health/"):
            continue
        found = cell_for(method, shape)
        if found is None:
            missing.append(f"{method} {shape}: no access-matrix cell says how to call it")
            continue
        cell, rules = found
        holder, father = caller(Role.TRUSTED_PERSON), caller(Role.TRUSTED_PERSON)
        people = personas(caller, holder, father)
        allowed = [p for p in people if rules.get(p) == OK][:1]
        # A refusal (404/403); for a list by family, a family it does not show ("empty").
        refused = [p for p in people if rules.get(p, "404") in ("404", "403")][:1] or [
            p for p in people if rules.get(p) == "empty"
        ][:1]
        attempts = [(p, "allowed") for p in allowed] + [(p, "denied-or-missing") for p in refused]
        if len(attempts) != 2:
            missing.append(f"{method} {shape}: the matrix names no allowed and refused persona")
        for persona, outcome in attempts:
            status, family_id, records = await attempt(
                client, cases_store, cell, people[persona], holder, father
            )
            checked += 1
            mine = [
                r
                for r in records
                if r["outcome"] == outcome
                and r["reason"] == REASON
                and r["role"] == ROLES[persona].value
            ]
            if outcome == "allowed":
                mine = [r for r in mine if r["family_id"] == family_id]
            if not mine:
                missing.append(
                    f"{method} {shape} as {persona} ({status}): no {outcome} audit record"
                    + (f" for family {family_id}" if outcome == "allowed" else "")
                )
    assert missing == [], "\n".join(missing)
    print(f"cases: {checked} audited attempts")  # noqa: T201 - the count is reported
