"""Registering a family: one form of about two phone screens, members added one at a time.

Without JavaScript: "Add another person" posts the form and gets it back with one more row;
the people already complete are shown as one line each (kept in hidden fields, with a button
to change them), so the form stays short however large the household is.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from alamal_gateway.clients import ForbiddenError, InvalidError, ServiceUnavailableError
from alamal_gateway.labels import CONSENT, INTAKE_SOURCE, MEMBER_ROLE, PROJECT, WIJK
from alamal_gateway.web import household
from alamal_gateway.web.core import (
    CASEWORK,
    CurrentViewer,
    Viewer,
    checked_form,
    field,
    fields,
    redirect,
    render,
    require_role,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.forms import map_fields
from alamal_gateway.web.names import trusted_persons
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

SHARE = tuple(p for p in CONSENT if p.startswith("share-"))
"""Sharing purposes, asked as one group: ticked is yes, left open is no."""
SHARE_WITH = {p: p.removeprefix("share-") for p in SHARE}
"""Each sharing purpose's partner kind: the group names the partners only."""
FAMILY_LANGUAGES = ("nl", "ar", "tr", "en", "fr", "so", "ti")
_TOP_FIELDS = {
    "wijk": "wijk",
    "languages": "languages",
    "intake_source": "intake_source",
    "projects": "projects",
    "consents": "consents",
    "trusted_person_id": "trusted_person_id",
    "members": "m0_first_name",
}


def open_rows(values: dict[str, Any], errors: dict[str, str], editing: int | None) -> set[int]:
    """The member rows shown as fields: the newest, any incomplete or with an error, and the
    one being changed. The others are complete and shown as one line each."""
    shown = {values["rows"] - 1}
    if editing is not None:
        shown.add(editing)
    for i in range(values["rows"]):
        wrong = any(name.startswith(f"m{i}_") for name in errors)
        if wrong or household.row_errors(values, i):
            shown.add(i)
    return shown


def _register_page(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    errors: dict[str, str],
    trusted_persons: list[dict[str, str]],
    *,
    status_code: int = 200,
    unavailable: bool = False,
    editing: int | None = None,
) -> HTMLResponse:
    return render(
        request,
        "register.html",
        viewer,
        status_code=status_code,
        values=values,
        errors=errors,
        unavailable=unavailable,
        rows=range(values["rows"]),
        open_rows=open_rows(values, errors, editing),
        wijken=[
            w for w in WIJK if viewer.user.role is Role.TRUSTED_PERSON or w in viewer.user.wijken
        ]
        or list(WIJK),
        member_roles=list(MEMBER_ROLE),
        sources=list(INTAKE_SOURCE),
        projects=list(PROJECT),
        purposes=[p for p in CONSENT if p not in SHARE],
        share_with=SHARE_WITH,
        family_languages=FAMILY_LANGUAGES,
        trusted_persons=trusted_persons,
    )


@router.get("/families/new", response_class=HTMLResponse)
async def register_form(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """The guided registration form."""
    require_role(viewer, *CASEWORK)
    values: dict[str, Any] = {
        "wijk": viewer.user.wijken[0] if viewer.user.wijken else "overvecht",
        "rows": 1,
        "intake_source": "",
        "trusted_person_id": "",
        "languages": ["nl"],
        "projects": [],
        "consent": {},
    }
    return _register_page(request, viewer, values, {}, await trusted_persons(request, viewer))


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: field(form, name) for name in ("wijk", "intake_source", "trusted_person_id")
    }
    values |= household.read_rows(form)
    values["languages"] = fields(form, "languages")
    values["projects"] = fields(form, "projects")
    values["consent"] = {p: field(form, f"consent_{p}") for p in CONSENT if p not in SHARE}
    shared = set(fields(form, "share"))
    values["consent"] |= {p: "yes" if p in shared else "no" for p in SHARE}
    return values


def _registration(
    values: dict[str, Any], viewer: Viewer
) -> tuple[dict[str, Any], dict[str, str], list[int]]:
    """The intake body, the errors found before sending, and which form row each member is."""
    members, errors, rows = household.members(values)
    if not values["languages"]:
        errors["languages"] = "choose"
    if values["intake_source"] not in INTAKE_SOURCE:
        errors["intake_source"] = "choose"
    if values["consent"].get("care") not in ("yes", "no"):
        errors["consent_care"] = "choose"
    body: dict[str, Any] = {
        "members": members,
        "wijk": values["wijk"],
        "languages": values["languages"],
        "intake_source": values["intake_source"],
        "projects": values["projects"],
        "consents": [
            {"purpose": p, "granted": answer == "yes"}
            for p, answer in values["consent"].items()
            if answer in ("yes", "no")
        ],
    }
    if viewer.user.role is Role.COORDINATOR:
        try:
            body["trusted_person_id"] = str(uuid.UUID(values["trusted_person_id"]))
        except ValueError:
            errors["trusted_person_id"] = "choose"
    return body, errors, rows


def _editing(action: str, rows: int) -> int | None:
    """The row whose "Change" button was pressed (`edit-<row>`), if any."""
    number = action.removeprefix("edit-")
    if action.startswith("edit-") and number.isdigit() and int(number) < rows:
        return int(number)
    return None


@router.post("/families/new", response_model=None)
async def register(request: Request, viewer: CurrentViewer) -> Response:
    """Register at intake; errors next to the fields, the input kept when intake is down."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    values = _form_values(form)
    people = await trusted_persons(request, viewer)
    action = field(form, "action")
    if action == "add-member":
        # One person at a time, without JavaScript: the same form with one more row.
        # A person half filled in is finished first: its row says what is missing.
        values = household.without_blank_rows(values)
        unfinished: dict[str, str] = {}
        for i in range(values["rows"]):
            if not household.blank(values, i):
                unfinished |= household.row_errors(values, i)
        if household.blank(values, 0):  # nobody yet: the first person is asked for
            unfinished = household.row_errors(values, 0)
        if unfinished:
            return _register_page(request, viewer, values, unfinished, people, status_code=422)
        if not household.blank(values, values["rows"] - 1):  # else its empty row is still there
            values["rows"] = min(values["rows"] + 1, household.MAX_MEMBERS)
            for part in household.PARTS:
                values.setdefault(f"m{values['rows'] - 1}_{part}", "")
        return _register_page(request, viewer, values, {}, people)
    if (editing := _editing(action, values["rows"])) is not None:
        return _register_page(request, viewer, values, {}, people, editing=editing)
    body, errors, rows = _registration(values, viewer)
    if errors:
        return _register_page(request, viewer, values, errors, people, status_code=422)
    try:
        reply = await gateway(request).clients.call(
            "intake", "POST", "/families", viewer.caller, json=body
        )
    except InvalidError as invalid:
        errors = map_fields(invalid.fields, _TOP_FIELDS, rows)
        return _register_page(request, viewer, values, errors, people, status_code=422)
    except ServiceUnavailableError:
        return _register_page(
            request, viewer, values, {}, people, status_code=503, unavailable=True
        )
    except ForbiddenError:
        errors = {"wijk": "invalid"}
        return _register_page(request, viewer, values, errors, people, status_code=403)
    return redirect(f"/families/{reply.data['id']}?notice=registered")
