"""Log a visit (built for a phone, under 30 seconds) and the referral steps."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
)
from alamal_gateway.labels import OVERRIDE_REASON, REASON, TOPIC, URGENCY, VISIT_KIND
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
from alamal_gateway.web.offline_pages import keep_offline
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

DURATIONS = (15, 30, 45, 60, 90, 120)
FOLLOW_UPS = (0, 7, 14, 28)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
VISIT_FIELDS = {
    "kind": "kind",
    "occurred_on": "occurred_on",
    "duration_minutes": "duration_minutes",
    "topic_codes": "topic_codes",
    "strengths_observed": "strength",
    "private_note": "private_note",
    "follow_up_on": "follow_up",
}
_REFERRAL_FIELDS = {
    "partner_id": "partner_id",
    "urgency": "urgency",
    "reason_codes": "reason_codes",
    "note": "note",
}


async def _case(request: Request, viewer: Viewer, case_id: uuid.UUID) -> dict[str, Any]:
    data: dict[str, Any] = (
        await gateway(request).clients.call("cases", "GET", f"/cases/{case_id}", viewer.caller)
    ).data
    return await _named(request, viewer, data)


async def _named(request: Request, viewer: Viewer, case: dict[str, Any]) -> dict[str, Any]:
    """The case with its family's first names, so the form says which family it is for
    (`family_names` None when intake does not answer or the id is not one of hers)."""
    names = None
    if _is_uuid(str(case.get("family_id", ""))):
        try:
            family = (
                await gateway(request).clients.call(
                    "intake", "GET", f"/families/{case['family_id']}", viewer.caller
                )
            ).data
            names = [m["first_name"] for m in family["members"]]
        except (ServiceUnavailableError, NotFoundError, ForbiddenError):
            names = None
    return {**case, "family_names": names}


def _visit_page(
    request: Request,
    viewer: Viewer,
    case: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    status_code: int = 200,
    unavailable: bool = False,
    fresh: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "visit.html",
        viewer,
        status_code=status_code,
        case=case,
        values=values,
        errors=errors,
        unavailable=unavailable,
        fresh=fresh,
        kinds=list(VISIT_KIND),
        topics=list(TOPIC),
        durations=DURATIONS,
        follow_ups=FOLLOW_UPS,
    )


@router.get("/cases/{case_id}/visits/new", response_class=HTMLResponse)
async def visit_form(request: Request, case_id: uuid.UUID, viewer: CurrentViewer) -> HTMLResponse:
    """The visit form with sensible defaults: a home visit today, an hour, follow up in 2 weeks."""
    require_role(viewer, *CASEWORK)
    case = await _case(request, viewer, case_id)
    values = {
        "kind": "home-visit",
        "occurred_on": today().isoformat(),
        "duration_minutes": "60",
        "topic_codes": [],
        "strength": "",
        "private_note": "",
        "follow_up": "14",
        # The page's script makes a fresh key for each visit saved from this form.
        "idempotency_key": str(uuid.uuid4()),
    }
    response = _visit_page(request, viewer, case, values, {}, fresh=True)
    keep_offline(response, viewer.user.role)
    return response


VISIT_FORM_FIELDS = (
    "kind",
    "occurred_on",
    "duration_minutes",
    "strength",
    "private_note",
    "follow_up",
)


def visit_request(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The body cases takes for the visit form's values, and the form's own field errors."""
    errors: dict[str, str] = {}
    try:
        occurred = date.fromisoformat(values["occurred_on"])
    except ValueError:
        errors["occurred_on"] = "date"
        occurred = today()
    if not values["duration_minutes"].isdigit():
        errors["duration_minutes"] = "choose"
    follow = values["follow_up"]
    body: dict[str, Any] = {
        "kind": values["kind"],
        "occurred_on": occurred.isoformat(),
        "duration_minutes": int(values["duration_minutes"] or 0),
        "topic_codes": values["topic_codes"],
        "strengths_observed": [values["strength"]] if values["strength"] else [],
        "private_note": values["private_note"] or None,
        "follow_up_on": (occurred + timedelta(days=int(follow))).isoformat()
        if follow.isdigit() and int(follow) > 0
        else None,
    }
    return body, errors


def idempotency_key(value: str) -> str | None:
    """The form's key for this visit when it is one a device or the page made, else None."""
    return value if IDEMPOTENCY_KEY.fullmatch(value) else None


@router.post("/cases/{case_id}/visits/new", response_model=None)
async def log_visit(request: Request, case_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Log the visit at cases (once per form: a resubmitted form is one visit); keep the
    input when cases is down."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    values: dict[str, Any] = {name: field(form, name) for name in VISIT_FORM_FIELDS}
    values["topic_codes"] = fields(form, "topic_codes")
    values["idempotency_key"] = field(form, "idempotency_key")
    case = await _named(
        request, viewer, {"id": str(case_id), "family_id": field(form, "family_id")}
    )
    body, errors = visit_request(values)
    if errors:
        return _visit_page(request, viewer, case, values, errors, status_code=422)
    key = idempotency_key(values["idempotency_key"])
    try:
        await gateway(request).clients.call(
            "cases",
            "POST",
            f"/cases/{case_id}/visits",
            viewer.caller,
            json=body,
            headers={"Idempotency-Key": key} if key else None,
        )
    except InvalidError as invalid:
        errors = map_fields(invalid.fields, VISIT_FIELDS)
        return _visit_page(request, viewer, case, values, errors, status_code=422)
    except ServiceUnavailableError:
        return _visit_page(request, viewer, case, values, {}, status_code=503, unavailable=True)
    except ConflictError:
        return _visit_page(request, viewer, case, values, {"_form": "closed"}, status_code=409)
    target = f"/families/{case['family_id']}" if _is_uuid(case["family_id"]) else "/caseload"
    return redirect(f"{target}?notice=visit-logged")


def today() -> date:
    """Today in Utrecht (the server may run in UTC)."""
    return datetime.now(AMSTERDAM).date()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def partner_directory(request: Request, viewer: Viewer) -> list[dict[str, Any]] | None:
    """Every partner (id, name, kind, active) from notifications, or None when that list is not
    available: then no referral can be proposed (a typed id would bypass the registered kind)."""
    try:
        reply = await gateway(request).clients.call(
            "notifications", "GET", "/partners/directory", viewer.caller
        )
    except (ServiceUnavailableError, NotFoundError, ForbiddenError, ConflictError, InvalidError):
        return None
    data = reply.data
    return [p for p in data if isinstance(p, dict)] if isinstance(data, list) else None


async def _partners(request: Request, viewer: Viewer) -> list[dict[str, Any]] | None:
    """The active partners staff may refer to, by name; None when the list is not available."""
    directory = await partner_directory(request, viewer)
    if directory is None:
        return None
    return sorted(
        (p for p in directory if p.get("active", True)), key=lambda p: str(p.get("name", ""))
    )


def _referral_page(
    request: Request,
    viewer: Viewer,
    case: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str],
    partners: list[dict[str, Any]] | None,
    *,
    status_code: int = 200,
    unavailable: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "referral.html",
        viewer,
        status_code=status_code,
        case=case,
        values=values,
        errors=errors,
        partners=partners,
        unavailable=unavailable,
        urgencies=list(URGENCY),
        reasons=list(REASON),
    )


@router.get("/cases/{case_id}/referrals/new", response_class=HTMLResponse)
async def referral_form(
    request: Request, case_id: uuid.UUID, viewer: CurrentViewer
) -> HTMLResponse:
    """Propose a referral: partner, urgency, reasons; the consent gate is explained."""
    require_role(viewer, *CASEWORK)
    case = await _case(request, viewer, case_id)
    values = {
        "partner_id": "",
        "urgency": "routine",
        "reason_codes": [],
        "note": "",
    }
    partners = await _partners(request, viewer)
    return _referral_page(request, viewer, case, values, {}, partners)


@router.post("/cases/{case_id}/referrals/new", response_model=None)
async def propose(request: Request, case_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Propose at cases to a partner chosen by name from the directory: only its id is sent,
    never a kind (cases takes the kind the partner is registered as)."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    values: dict[str, Any] = {name: field(form, name) for name in ("partner_id", "urgency", "note")}
    values["reason_codes"] = fields(form, "reason_codes")
    case = await _named(
        request, viewer, {"id": str(case_id), "family_id": field(form, "family_id")}
    )
    partners = await _partners(request, viewer)
    if partners is None:
        return _referral_page(
            request, viewer, case, values, {}, partners, status_code=503, unavailable=True
        )
    errors: dict[str, str] = {}
    if values["partner_id"] not in {str(p.get("id")) for p in partners}:
        errors["partner_id"] = "choose"
    if not values["reason_codes"]:
        errors["reason_codes"] = "choose"
    if errors:
        return _referral_page(request, viewer, case, values, errors, partners, status_code=422)
    body = {
        "partner_id": values["partner_id"],
        "urgency": values["urgency"],
        "reason_codes": values["reason_codes"],
        "note": values["note"] or None,
    }
    try:
        await gateway(request).clients.call(
            "cases", "POST", f"/cases/{case_id}/referrals", viewer.caller, json=body
        )
    except InvalidError as invalid:
        errors = map_fields(invalid.fields, _REFERRAL_FIELDS)
        if "partner_id" in errors:
            errors["partner_id"] = "partner"
        return _referral_page(request, viewer, case, values, errors, partners, status_code=422)
    except ServiceUnavailableError:
        return _referral_page(
            request, viewer, case, values, {}, partners, status_code=503, unavailable=True
        )
    except ConflictError:
        errors = {"_form": "closed"}
        return _referral_page(request, viewer, case, values, errors, partners, status_code=409)
    return redirect(f"/families/{_family(case)}?notice=referral-proposed")


def _family(case: dict[str, Any]) -> str:
    return str(case["family_id"]) if _is_uuid(str(case["family_id"])) else ""


_STEPS = {"approve": "referral-approved", "send": "referral-sent", "override": "override-recorded"}


@router.post("/referrals/{referral_id}/{step}", response_model=None)
async def referral_step(
    request: Request, referral_id: uuid.UUID, step: str, viewer: CurrentViewer
) -> Response:
    """Approve (coordinator), record a Meldcode override (coordinator) or send."""
    require_role(viewer, *CASEWORK)
    form = await checked_form(request, viewer)
    if step not in _STEPS:
        raise NotFoundError("gateway", 404)
    if step in ("approve", "override"):
        require_role(viewer, Role.COORDINATOR)
    clients = gateway(request).clients
    referral = (await clients.call("cases", "GET", f"/referrals/{referral_id}", viewer.caller)).data
    back = f"/families/{referral['family_id']}"
    path = f"/referrals/{referral_id}/{'meldcode-override' if step == 'override' else step}"
    if step == "send" and referral["state"] == "proposed" and referral["urgency"] == "routine":
        return redirect(f"{back}?notice=needs-approval")
    body = None
    if step == "override":
        reason = field(form, "reason_code")
        if reason not in OVERRIDE_REASON:
            return redirect(f"{back}?notice=override-reason")
        body = {"reason_code": reason}
    try:
        await clients.call("cases", "POST", path, viewer.caller, json=body)
    except ConflictError:
        notice = "consent-missing" if step == "send" else "step-not-possible"
        return redirect(f"{back}?notice={notice}")
    except ForbiddenError:
        return redirect(f"{back}?notice=coordinator-only")
    except ServiceUnavailableError:
        return redirect(f"{back}?notice=unavailable")
    return redirect(f"{back}?notice={_STEPS[step]}")
