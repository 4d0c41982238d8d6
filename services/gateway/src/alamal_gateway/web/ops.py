"""Operator page (health, dead letters, delivery failures: no personal data), reports, partners.

Reports and partners are proxied from the reporting and notifications services. Where a
service does not offer the function (yet), the page says so: it never shows made-up figures.
Dead letters carry the same name here as in the services' API and in `alamal-ops`
(`consumer:topic:partition:offset`); an operator replays an open one or resolves one that will
never succeed, with a reason code that the service audits.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alamal_gateway.clients import (
    SERVICES,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceError,
    ServiceUnavailableError,
)
from alamal_gateway.i18n import N_
from alamal_gateway.labels import NOTICES
from alamal_gateway.web.core import (
    TRACE_ID,
    CurrentViewer,
    Viewer,
    checked_form,
    field,
    redirect,
    render,
    require_role,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

LETTER_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}:[a-z0-9][a-z0-9.-]{0,199}:[0-9]{1,9}:[0-9]{1,19}")
LETTER_STATE = {
    "open": N_("Open"),
    "replayed": N_("Replayed"),
    "failed-again": N_("Failed again"),
    "resolved": N_("Resolved"),
}
RESOLVE_REASON = {
    "invalid-data": N_("The data can never be read"),
    "superseded": N_("Later events made it pointless"),
    "duplicate": N_("Handled through another delivery"),
    "handled-manually": N_("Handled by hand"),
    "family-erased": N_("The family's data was erased"),
    "test-data": N_("Test data"),
}
NOTICES.update(
    {
        "letter-replayed": N_("The dead letter is published again."),
        "letter-resolved": N_("The dead letter is closed."),
        "letter-not-possible": N_("Not possible in the dead letter's current state."),
        "letter-missing": N_("That dead letter does not exist (any more)."),
        "operators-only": N_("Only an operator may do this."),
        "no-trace-ui": N_("No trace UI is configured: look the trace id up in the services' logs."),
        "not-a-trace-id": N_("A trace id is 32 characters 0-9 and a-f."),
    }
)


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
    """Every service's recent dead letters (names, codes and states), newest first."""
    answers = await asyncio.gather(
        *(fetch(request, viewer, s, "/ops/dead-letters") for s in SERVICES)
    )
    rows = [row for state, data in answers if state == "ok" for row in data]
    if not rows and all(state != "ok" for state, _ in answers):
        return answers[0][0], None
    return "ok", sorted(rows, key=lambda row: str(row.get("at", "")), reverse=True)


@router.get("/operator", response_class=HTMLResponse)
async def operator_page(
    request: Request, viewer: CurrentViewer, notice: str | None = None, trace_id: str = ""
) -> HTMLResponse:
    """Service health, dead letters and delivery failures: counts and ids only; with
    `?trace_id=` (e.g. from an error answer) a link to that trace in the trace UI."""
    require_role(viewer, Role.OPERATOR, Role.ADMIN)
    wanted = trace_id.strip().lower()
    if wanted and not TRACE_ID.fullmatch(wanted):
        notice, wanted = "not-a-trace-id", ""
    elif wanted and trace_link(request) is None:
        notice, wanted = "no-trace-ui", ""
    health = dict(
        zip(SERVICES, await asyncio.gather(*(_health(request, s) for s in SERVICES)), strict=True)
    )
    dead_letters, failures, erasures = await asyncio.gather(
        _dead_letters(request, viewer),
        fetch(request, viewer, "notifications", "/deliveries", state="failed"),
        fetch(request, viewer, "intake", "/ops/erasures"),
    )
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
        notice=notice,
        letter_states=LETTER_STATE,
        resolve_reasons=RESOLVE_REASON,
        can_act=viewer.user.role is Role.OPERATOR,
        trace_link=trace_link(request),
        trace_id=wanted,
    )


def trace_link(request: Request) -> str | None:
    """The trace UI's page of a trace, `{trace_id}` to fill in (None without a trace UI)."""
    link: str | None = gateway(request).settings.trace_link
    return link


@router.post("/operator/dead-letters/{name}/{action}", response_model=None)
async def dead_letter_action(
    request: Request, name: str, action: str, viewer: CurrentViewer
) -> RedirectResponse:
    """Replay an open dead letter, or resolve one with a reason (operators only)."""
    require_role(viewer, Role.OPERATOR)
    form = await checked_form(request, viewer)
    service = name.split(":", 1)[0]
    if (
        not LETTER_NAME.fullmatch(name)
        or service not in SERVICES
        or action
        not in (
            "replay",
            "resolve",
        )
    ):
        raise NotFoundError("gateway", 404)
    body = None
    if action == "resolve":
        reason = field(form, "reason")
        if reason not in RESOLVE_REASON:
            return redirect("/operator?notice=invalid")
        body = {"reason": reason}
    try:
        await gateway(request).clients.call(
            service, "POST", f"/ops/dead-letters/{name}/{action}", viewer.caller, json=body
        )
    except ConflictError:
        return redirect("/operator?notice=letter-not-possible")
    except NotFoundError:
        return redirect("/operator?notice=letter-missing")
    except ForbiddenError:
        return redirect("/operator?notice=operators-only")
    except ServiceUnavailableError:
        return redirect("/operator?notice=unavailable")
    done = "letter-replayed" if action == "replay" else "letter-resolved"
    return redirect(f"/operator?notice={done}")
