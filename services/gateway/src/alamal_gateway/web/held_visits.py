"""Visits saved offline that cases could not add (the case was closed or reassigned meanwhile):
the trusted person sees hers with the reason; a coordinator decides on those in her wijken."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    results,
)
from alamal_gateway.web.core import (
    CASEWORK,
    CurrentViewer,
    Viewer,
    checked_form,
    field,
    redirect,
    render,
    require_role,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.names import family_names, staff_names
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)
DECISIONS = {"log": "held-logged", "discard": "held-discarded"}


async def held_visits(request: Request, viewer: Viewer) -> list[dict[str, Any]] | None:
    """The held visits the viewer sees (hers, or her wijken's waiting ones); None when cases
    does not answer."""
    try:
        reply = await gateway(request).clients.call("cases", "GET", "/held-visits", viewer.caller)
    except (ServiceUnavailableError, ForbiddenError, NotFoundError):
        return None
    return [h for h in results(reply.data) if isinstance(h, dict)]


@router.get("/visits/held", response_class=HTMLResponse)
async def held_page(request: Request, viewer: CurrentViewer, notice: str = "") -> HTMLResponse:
    """A trusted person's visits that were not added, with the reason and what became of them;
    a coordinator's decisions to make."""
    require_role(viewer, *CASEWORK)
    return render(
        request,
        "held_visits.html",
        viewer,
        held=await held_visits(request, viewer),
        families=await family_names(request, viewer) or {},
        staff=await staff_names(request),
        deciding=viewer.user.role is Role.COORDINATOR,
        notice=notice,
    )


@router.post("/held-visits/{held_id}/decision", response_model=None)
async def decide(request: Request, held_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """A coordinator adds the held visit to its case or discards it (back to where she
    decided: her team page or the held visits page)."""
    require_role(viewer, Role.COORDINATOR)
    form = await checked_form(request, viewer)
    decision = field(form, "decision")
    back = "/team" if field(form, "back") == "team" else "/visits/held"
    if decision not in DECISIONS:
        return redirect(f"{back}?notice=invalid")
    try:
        await gateway(request).clients.call(
            "cases",
            "POST",
            f"/held-visits/{held_id}/decision",
            viewer.caller,
            json={"decision": decision},
        )
    except (ConflictError, NotFoundError):
        return redirect(f"{back}?notice=step-not-possible")
    except ServiceUnavailableError:
        return redirect(f"{back}?notice=unavailable")
    return redirect(f"{back}?notice={DECISIONS[decision]}")
