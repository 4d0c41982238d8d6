"""Operator page (health, dead letters, delivery failures: no personal data), reports, partners.

Reports and partners are proxied from the reporting and notifications services. Where a
service does not offer the function (yet), the page says so: it never shows made-up figures.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceError,
    ServiceUnavailableError,
)
from alamal_gateway.web.core import CurrentViewer, Viewer, render, require_role
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

SERVICES = ("intake", "cases", "notifications", "reporting")


async def _health(request: Request, service: str) -> str:
    try:
        reply = await gateway(request).clients.call(service, "GET", "/health/ready", None)
    except ServiceUnavailableError:
        return "down"
    except ServiceError:
        return "unknown"
    return "ok" if reply.status == 200 else "degraded"


async def fetch(
    request: Request, viewer: Viewer, service: str, path: str, **params: Any
) -> tuple[str, Any]:
    """(`ok`, data), (`missing`, None) when the API is not there, or (`down`, None)."""
    try:
        reply = await gateway(request).clients.call(
            service, "GET", path, viewer.caller, params=params or None
        )
    except NotFoundError:
        return "missing", None
    except ServiceUnavailableError:
        return "down", None
    except (ForbiddenError, ConflictError, InvalidError):
        return "missing", None
    return "ok", reply.data


async def _dead_letters(request: Request, viewer: Viewer) -> tuple[str, Any]:
    """Every service's recent dead letters (positions and codes), newest first."""
    answers = await asyncio.gather(
        *(fetch(request, viewer, s, "/ops/dead-letters") for s in SERVICES)
    )
    rows = [row for state, data in answers if state == "ok" for row in data]
    if not rows and all(state != "ok" for state, _ in answers):
        return answers[0][0], None
    return "ok", sorted(rows, key=lambda row: str(row.get("at", "")), reverse=True)


@router.get("/operator", response_class=HTMLResponse)
async def operator_page(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """Service health, dead letters and delivery failures: counts and ids only."""
    require_role(viewer, Role.OPERATOR, Role.ADMIN)
    health = dict(
        zip(SERVICES, await asyncio.gather(*(_health(request, s) for s in SERVICES)), strict=True)
    )
    dead_letters = await _dead_letters(request, viewer)
    failures = await fetch(request, viewer, "notifications", "/deliveries", state="failed")
    erasures = await fetch(request, viewer, "intake", "/ops/erasures")
    audit = await gateway(request).guard.audit_records(limit=200)
    outcomes: dict[str, int] = {}
    for record in audit:
        outcome = str(record["outcome"])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return render(
        request,
        "operator.html",
        viewer,
        health=health,
        dead_letters=dead_letters,
        failures=failures,
        erasures=erasures,
        outcomes=sorted(outcomes.items()),
    )
