"""Keep the record right: edit a family's details (If-Match with the version read, a conflict
shown as a clear message) and change its consent per purpose (a new answer, never an edit)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    ServiceUnavailableError,
)
from alamal_gateway.labels import CONSENT, MEMBER_ROLE
from alamal_gateway.web import household
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
from alamal_gateway.web.forms import map_fields
from alamal_gateway.web.state import gateway

router = APIRouter(prefix="/families/{family_id}", route_class=PageRoute)

CONSENT_TEXT_VERSION = "2026-1"
"""The version of the consent explanation staff read out (the registration form's)."""
_EDIT_FIELDS = {
    "phone": "phone",
    "notes": "notes",
    "address": "street",
    "members": "m0_first_name",
}


def _values_of(family: dict[str, Any]) -> dict[str, Any]:
    """The form's values for a family as intake answers it."""
    address = family.get("address") or {}
    values: dict[str, Any] = {
        "phone": family.get("phone") or "",
        "notes": family.get("notes") or "",
        "street": address.get("street", ""),
        "house_number": address.get("house_number", ""),
        "postcode": address.get("postcode", ""),
        "city": address.get("city", ""),
        "rows": len(family["members"]),
    }
    for i, m in enumerate(family["members"]):
        values[f"m{i}_role"] = m["role"]
        values[f"m{i}_first_name"] = m["first_name"]
        values[f"m{i}_surname"] = m.get("surname") or ""
        values[f"m{i}_birth_year"] = str(m["birth_year"])
    return values


def _values_from(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: field(form, name)[: 4000 if name == "notes" else 100]
        for name in ("phone", "notes", "street", "house_number", "postcode", "city")
    }
    return values | household.read_rows(form)


def _patch(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[int]]:
    """The PATCH body, errors found before sending, and which form row each member is."""
    members, errors, rows = household.members(values)
    address_parts = [values[k] for k in ("street", "house_number", "postcode", "city")]
    address: dict[str, str] | None = None
    if any(address_parts):
        address = {
            "street": values["street"],
            "house_number": values["house_number"],
            "postcode": values["postcode"].upper(),
            "city": values["city"],
        }
    body = {
        "members": members,
        "phone": values["phone"] or None,
        "notes": values["notes"] or None,
        "address": address,
    }
    return body, errors, rows


def _page(
    request: Request,
    viewer: Viewer,
    family_id: str,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    etag: str,
    status_code: int = 200,
    problem: str = "",
    current: dict[str, Any] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "family_edit.html",
        viewer,
        status_code=status_code,
        family_id=family_id,
        values=values,
        errors=errors,
        etag=etag,
        problem=problem,
        current=current,
        member_roles=list(MEMBER_ROLE),
    )


@router.get("/edit", response_class=HTMLResponse)
async def edit_form(request: Request, family_id: uuid.UUID, viewer: CurrentViewer) -> HTMLResponse:
    """The family's details as a form, with one empty row to add a member (a new baby)."""
    require_role(viewer, *CASEWORK)
    reply = await gateway(request).clients.call(
        "intake", "GET", f"/families/{family_id}", viewer.caller
    )
    values = _values_of(reply.data)
    values["rows"] += 1
    return _page(request, viewer, str(family_id), values, {}, etag=reply.headers.get("etag", ""))


@router.post("/edit", response_model=None)
async def save(request: Request, family_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """PATCH at intake with If-Match; a change made meanwhile is shown, the input kept."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    values = _values_from(form)
    etag = field(form, "etag")[:40]
    body, errors, rows = _patch(values)
    fid = str(family_id)
    if errors:
        return _page(request, viewer, fid, values, errors, etag=etag, status_code=422)
    clients = gateway(request).clients
    try:
        await clients.call(
            "intake",
            "PATCH",
            f"/families/{fid}",
            viewer.caller,
            json=body,
            headers={"If-Match": etag},
        )
    except InvalidError as invalid:
        errors = map_fields(invalid.fields, _EDIT_FIELDS, rows)
        return _page(request, viewer, fid, values, errors, etag=etag, status_code=422)
    except ConflictError:
        # Someone saved first: show what is stored now beside her input; saving again is her
        # decision, made knowing the other change (the form then carries the new version).
        fresh = await clients.call("intake", "GET", f"/families/{fid}", viewer.caller)
        return _page(
            request,
            viewer,
            fid,
            values,
            {},
            etag=fresh.headers.get("etag", ""),
            status_code=409,
            problem="conflict",
            current=fresh.data,
        )
    except ServiceUnavailableError:
        return _page(
            request, viewer, fid, values, {}, etag=etag, status_code=503, problem="unavailable"
        )
    return redirect(f"/families/{fid}?notice=family-saved")


@router.post("/consents", response_model=None)
async def change_consent(request: Request, family_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Record the family's new answer for one purpose (the history keeps the old one)."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    purpose, answer = field(form, "purpose"), field(form, "granted")
    back = f"/families/{family_id}"
    if purpose not in CONSENT or answer not in ("yes", "no"):
        return redirect(f"{back}?notice=invalid#consent-title")
    body = {
        "purpose": purpose,
        "granted": answer == "yes",
        "text_version": CONSENT_TEXT_VERSION,
    }
    try:
        await gateway(request).clients.call(
            "intake", "POST", f"/families/{family_id}/consents", viewer.caller, json=body
        )
    except (InvalidError, ForbiddenError):
        return redirect(f"{back}?notice=invalid#consent-title")
    except ServiceUnavailableError:
        return redirect(f"{back}?notice=unavailable#consent-title")
    return redirect(f"{back}?notice=consent-recorded#consent-title")
