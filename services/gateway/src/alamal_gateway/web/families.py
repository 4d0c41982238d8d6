"""Caseload, family registration and the family page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from alamal_gateway.accounts import list_users
from alamal_gateway.clients import (
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
    results,
)
from alamal_gateway.labels import (
    CONSENT,
    GOAL_STATUS,
    INTAKE_SOURCE,
    MEMBER_ROLE,
    OUTCOME,
    PROJECT,
    TOPIC,
    WIJK,
)
from alamal_gateway.web.casework import partner_directory
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
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

MEMBER_ROWS = 6
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


@router.get("/caseload", response_class=HTMLResponse)
async def caseload(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """Her open cases, overdue follow-ups first; a coordinator sees her wijken."""
    require_role(viewer, *CASEWORK)
    clients = gateway(request).clients
    unavailable: list[str] = []
    families: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    try:
        families = results(
            (
                await clients.call(
                    "intake", "GET", "/families", viewer.caller, params={"limit": 100}
                )
            ).data
        )
    except (ServiceUnavailableError, ForbiddenError):
        unavailable.append("intake")
    try:
        entries = results((await clients.call("cases", "GET", "/caseload", viewer.caller)).data)
    except (ServiceUnavailableError, ForbiddenError):
        unavailable.append("cases")
    except NotFoundError:  # an older cases service: overdue follow-ups only
        entries = results(
            (await clients.call("cases", "GET", "/follow-ups/overdue", viewer.caller)).data
        )
    entries = [caseload_entry(e) for e in entries]
    entries.sort(key=lambda e: -int(e["days_overdue"] or 0))
    by_id = {f["id"]: f for f in families}
    with_case = {e["family_id"] for e in entries}
    others = [f for f in families if f["id"] not in with_case]
    return render(
        request,
        "caseload.html",
        viewer,
        entries=entries,
        others=others,
        by_id=by_id,
        unavailable=unavailable,
    )


def caseload_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One caseload card's fields, whichever cases answer it came from: every optional field
    present (None when absent), so the template never reads a key that is not there."""
    return {
        "family_id": entry.get("family_id"),
        "case_id": entry.get("case_id"),
        "days_overdue": entry.get("days_overdue") or 0,
        "last_contact_on": entry.get("last_contact_on"),
        "next_follow_up_on": entry.get("next_follow_up_on") or entry.get("follow_up_on"),
    }


async def _trusted_persons(request: Request, viewer: Viewer) -> list[dict[str, str]]:
    if viewer.user.role is not Role.COORDINATOR:
        return []
    users = await list_users(gateway(request).store)
    return [
        {"id": u.id, "name": u.display_name or u.username}
        for u in users
        if u.role is Role.TRUSTED_PERSON
        and not u.disabled
        and (not u.wijken or set(u.wijken) & set(viewer.user.wijken))
    ]


def _register_page(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    errors: dict[str, str],
    trusted_persons: list[dict[str, str]],
    *,
    status_code: int = 200,
    unavailable: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "register.html",
        viewer,
        status_code=status_code,
        values=values,
        errors=errors,
        unavailable=unavailable,
        rows=range(MEMBER_ROWS),
        wijken=[
            w for w in WIJK if viewer.user.role is Role.TRUSTED_PERSON or w in viewer.user.wijken
        ]
        or list(WIJK),
        member_roles=list(MEMBER_ROLE),
        sources=list(INTAKE_SOURCE),
        projects=list(PROJECT),
        purposes=list(CONSENT),
        family_languages=FAMILY_LANGUAGES,
        trusted_persons=trusted_persons,
    )


@router.get("/families/new", response_class=HTMLResponse)
async def register_form(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """The guided registration form."""
    require_role(viewer, *CASEWORK)
    values: dict[str, Any] = {
        "wijk": viewer.user.wijken[0] if viewer.user.wijken else "overvecht",
        "m0_role": "mother",
        "intake_source": "",
        "trusted_person_id": "",
        "languages": ["nl"],
        "projects": [],
        "consent": {},
    }
    return _register_page(request, viewer, values, {}, await _trusted_persons(request, viewer))


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: field(form, name) for name in ("wijk", "intake_source", "trusted_person_id")
    }
    for i in range(MEMBER_ROWS):
        for part in ("role", "first_name", "surname", "birth_year"):
            values[f"m{i}_{part}"] = field(form, f"m{i}_{part}")[:100]
    values["languages"] = fields(form, "languages")
    values["projects"] = fields(form, "projects")
    values["consent"] = {p: field(form, f"consent_{p}") for p in CONSENT}
    return values


def _registration(
    values: dict[str, Any], viewer: Viewer
) -> tuple[dict[str, Any], dict[str, str], list[int]]:
    """The intake body, the errors found before sending, and which form row each member is."""
    errors: dict[str, str] = {}
    members: list[dict[str, Any]] = []
    rows: list[int] = []
    this_year = datetime.now(UTC).year
    for i in range(MEMBER_ROWS):
        name, year = values[f"m{i}_first_name"], values[f"m{i}_birth_year"]
        if not name and not year and i > 0:
            continue
        if not name:
            errors[f"m{i}_first_name"] = "required"
        if not (year.isdigit() and 1900 <= int(year) <= this_year):
            errors[f"m{i}_birth_year"] = "birth_year"
        if values[f"m{i}_role"] not in MEMBER_ROLE:
            errors[f"m{i}_role"] = "choose"
        member: dict[str, Any] = {
            "role": values[f"m{i}_role"],
            "birth_year": int(year) if year.isdigit() else 0,
            "first_name": name,
        }
        if values[f"m{i}_surname"]:
            member["surname"] = values[f"m{i}_surname"]
        members.append(member)
        rows.append(i)
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


@router.post("/families/new", response_model=None)
async def register(request: Request, viewer: CurrentViewer) -> Response:
    """Register at intake; errors next to the fields, the input kept when intake is down."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    values = _form_values(form)
    body, errors, rows = _registration(values, viewer)
    people = await _trusted_persons(request, viewer)
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


async def _optional(coro: Any) -> Any:
    try:
        return (await coro).data
    except (ServiceUnavailableError, NotFoundError, ForbiddenError):
        return None


async def _listed(coro: Any) -> list[Any]:
    return results(await _optional(coro))


@router.get("/families/{family_id}", response_class=HTMLResponse)
async def family_page(
    request: Request, family_id: uuid.UUID, viewer: CurrentViewer, notice: str = ""
) -> HTMLResponse:
    """Members, consent, plan, visit timeline and referrals of one family in scope."""
    require_role(viewer, *CASEWORK)
    clients = gateway(request).clients
    fid = str(family_id)
    family = (await clients.call("intake", "GET", f"/families/{fid}", viewer.caller)).data
    cases_unavailable = False
    cases: list[dict[str, Any]] = []
    try:
        cases = results(
            (
                await clients.call(
                    "cases", "GET", "/cases", viewer.caller, params={"family_id": fid}
                )
            ).data
        )
    except ServiceUnavailableError:
        cases_unavailable = True
    details = []
    for case in cases:
        cid = case["id"]
        details.append(
            {
                "case": case,
                "visits": await _listed(
                    clients.call("cases", "GET", f"/cases/{cid}/visits", viewer.caller)
                ),
                "referrals": await _listed(
                    clients.call("cases", "GET", f"/cases/{cid}/referrals", viewer.caller)
                ),
                "plan": await _optional(
                    clients.call("cases", "GET", f"/cases/{cid}/plan", viewer.caller)
                ),
            }
        )
    consents = {c["purpose"]: c["granted"] for c in family["consents"]}
    directory = await partner_directory(request, viewer) if details else []
    return render(
        request,
        "family.html",
        viewer,
        family=family,
        consents=consents,
        partner_names={str(p.get("id")): str(p.get("name", "")) for p in directory or []},
        cases=details,
        cases_unavailable=cases_unavailable,
        notice=notice,
        topics=list(TOPIC),
        goal_statuses=list(GOAL_STATUS),
        outcomes=list(OUTCOME),
    )
