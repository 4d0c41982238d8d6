"""The coordinator's day (approvals inbox, caseload per trusted person, one person's caseload
and agenda), a trusted person's own agenda, and reassigning a family."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
    results,
)
from alamal_gateway.web.casework import today
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
from alamal_gateway.web.families import caseload_entry
from alamal_gateway.web.names import family_names, partner_names, staff_names
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

AGENDA_DAYS = 7


async def _cases(request: Request, viewer: Viewer, path: str, **params: Any) -> list[Any] | None:
    """A list from cases, or None when cases does not answer."""
    try:
        reply = await gateway(request).clients.call(
            "cases", "GET", path, viewer.caller, params=params or None
        )
    except (ServiceUnavailableError, ForbiddenError, NotFoundError):
        return None
    return results(reply.data)


def agenda_groups(items: list[dict[str, Any]], on: date) -> dict[str, list[dict[str, Any]]]:
    """Overdue, today, and the rest of the week, each oldest first."""
    groups: dict[str, list[dict[str, Any]]] = {"overdue": [], "today": [], "week": []}
    for item in items:
        due = date.fromisoformat(str(item["follow_up_on"]))
        key = "overdue" if due < on else "today" if due == on else "week"
        groups[key].append(item)
    return groups


@router.get("/team", response_class=HTMLResponse)
async def team_page(request: Request, viewer: CurrentViewer, notice: str = "") -> HTMLResponse:
    """The coordinator's day: referrals and offline visits waiting for her decision, and each
    trusted person's caseload."""
    require_role(viewer, Role.COORDINATOR)
    approvals = await _cases(request, viewer, "/approvals")
    loads = await _cases(request, viewer, "/caseloads")
    return render(
        request,
        "team.html",
        viewer,
        notice=notice,
        approvals=approvals,
        held=await _cases(request, viewer, "/held-visits"),
        loads=loads,
        families=await family_names(request, viewer) or {},
        staff=await staff_names(request),
        partners=await partner_names(request, viewer),
    )


@router.get("/team/{trusted_person_id}", response_class=HTMLResponse)
async def holder_page(
    request: Request, trusted_person_id: uuid.UUID, viewer: CurrentViewer
) -> HTMLResponse:
    """One trusted person's open cases (overdue first) and her agenda for the coming week."""
    require_role(viewer, Role.COORDINATOR)
    tp = str(trusted_person_id)
    entries = await _cases(request, viewer, f"/caseloads/{tp}")
    items = await _cases(request, viewer, "/agenda", trusted_person_id=tp, days=AGENDA_DAYS)
    staff = await staff_names(request)
    return render(
        request,
        "holder.html",
        viewer,
        holder_name=staff.get(tp, ""),
        entries=None if entries is None else [caseload_entry(e) for e in entries],
        groups=None if items is None else agenda_groups(items, today()),
        families=await family_names(request, viewer) or {},
    )


@router.get("/agenda", response_class=HTMLResponse)
async def agenda_page(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """Her follow-ups: overdue, today, and this week."""
    require_role(viewer, *CASEWORK)
    params: dict[str, Any] = {"days": AGENDA_DAYS}
    if viewer.user.role is Role.COORDINATOR:
        params["trusted_person_id"] = viewer.user.id
    items = await _cases(request, viewer, "/agenda", **params)
    return render(
        request,
        "agenda.html",
        viewer,
        groups=None if items is None else agenda_groups(items, today()),
        families=await family_names(request, viewer) or {},
        week_end=today() + timedelta(days=AGENDA_DAYS),
    )


@router.post("/families/{family_id}/assignment", response_model=None)
async def reassign(request: Request, family_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """A coordinator gives the family another trusted person (and in Tussen In the father's)."""
    require_role(viewer, Role.COORDINATOR)
    form = await checked_form(request, viewer)
    back = f"/families/{family_id}"
    body: dict[str, Any] = {}
    for name in ("trusted_person_id", "father_trusted_person_id"):
        value = field(form, name)
        if value == "none" and name == "father_trusted_person_id":
            body[name] = None
        elif value:
            try:
                body[name] = str(uuid.UUID(value))
            except ValueError:
                return redirect(f"{back}?notice=invalid")
    if not body:
        return redirect(f"{back}?notice=invalid")
    try:
        await gateway(request).clients.call(
            "intake", "POST", f"/families/{family_id}/assignment", viewer.caller, json=body
        )
    except InvalidError:
        return redirect(f"{back}?notice=father-needs-tussen-in")
    except ForbiddenError:
        return redirect(f"{back}?notice=coordinator-only")
    except ConflictError:
        return redirect(f"{back}?notice=changed-meanwhile")
    except ServiceUnavailableError:
        return redirect(f"{back}?notice=unavailable")
    return redirect(f"{back}?notice=reassigned")
