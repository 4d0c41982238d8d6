"""The strengths-based plan (strengths, goals, progress) and closing a case, on the family page."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    ServiceUnavailableError,
)
from alamal_gateway.labels import GOAL_STATUS, OUTCOME, TOPIC
from alamal_gateway.web.core import (
    CASEWORK,
    CurrentViewer,
    Viewer,
    checked_form,
    field,
    fields,
    redirect,
    require_role,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.state import gateway

router = APIRouter(prefix="/cases/{case_id}", route_class=PageRoute)


def _back(family_id: str, notice: str) -> Response:
    try:
        target = f"/families/{uuid.UUID(family_id)}"
    except ValueError:
        target = "/caseload"
    return redirect(f"{target}?notice={notice}")


async def _send(
    request: Request,
    viewer: Viewer,
    method: str,
    path: str,
    body: dict[str, Any],
    family_id: str,
    done: str,
) -> Response:
    try:
        await gateway(request).clients.call("cases", method, path, viewer.caller, json=body)
    except InvalidError:
        return _back(family_id, "invalid")
    except ConflictError:
        return _back(family_id, "step-not-possible")
    except ForbiddenError:
        return _back(family_id, "coordinator-only")
    except ServiceUnavailableError:
        return _back(family_id, "unavailable")
    return _back(family_id, done)


@router.post("/plan/strengths", response_model=None)
async def add_strength(request: Request, case_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Add one strength to the family's list (the list is replaced as a whole at cases)."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    family_id, strength = field(form, "family_id"), field(form, "strength")[:500]
    if not strength:
        return _back(family_id, "invalid")
    plan = (
        await gateway(request).clients.call("cases", "GET", f"/cases/{case_id}/plan", viewer.caller)
    ).data
    current = (plan.get("strengths") or {}).get("items", []) if isinstance(plan, dict) else []
    body = {"items": [*current, strength]}
    return await _send(
        request, viewer, "PUT", f"/cases/{case_id}/plan/strengths", body, family_id, "plan-saved"
    )


@router.post("/plan/goals", response_model=None)
async def add_goal(request: Request, case_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Add a goal set with the family."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    family_id = field(form, "family_id")
    area, description = field(form, "area"), field(form, "description")[:500]
    if area not in TOPIC or not description:
        return _back(family_id, "invalid")
    body = {"area": area, "description": description}
    return await _send(
        request, viewer, "POST", f"/cases/{case_id}/plan/goals", body, family_id, "plan-saved"
    )


@router.post("/plan/goals/{goal_id}", response_model=None)
async def change_goal(
    request: Request, case_id: uuid.UUID, goal_id: uuid.UUID, viewer: CurrentViewer
) -> Response:
    """A goal's new status and/or a progress note."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    family_id = field(form, "family_id")
    body: dict[str, Any] = {}
    if field(form, "status") in GOAL_STATUS:
        body["status"] = field(form, "status")
    if field(form, "note"):
        body["note"] = field(form, "note")[:1000]
    if not body:
        return _back(family_id, "invalid")
    path = f"/cases/{case_id}/plan/goals/{goal_id}"
    return await _send(request, viewer, "PATCH", path, body, family_id, "plan-saved")


@router.post("/close", response_model=None)
async def close_case(request: Request, case_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Close the case with outcome codes (codes only)."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    family_id = field(form, "family_id")
    outcomes = [c for c in fields(form, "outcome_codes") if c in OUTCOME]
    if not outcomes:
        return _back(family_id, "choose-outcome")
    body = {"outcome_codes": outcomes}
    return await _send(
        request, viewer, "POST", f"/cases/{case_id}/close", body, family_id, "case-closed"
    )
