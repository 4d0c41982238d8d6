"""The privacy officer's pages: find a family, download its export, request its erasure, follow
the erasure per service; the coordinator's approvals (the second pair of eyes).

Intake decides every rule (roles, four eyes, wijk, legal hold); these pages show its answers.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
)
from alamal_gateway.i18n import N_
from alamal_gateway.privacy_bundle import (
    GONE,
    ExportIncompleteError,
    FamilyErasedError,
    FamilyUnknownError,
    build,
)
from alamal_gateway.web.core import (
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

router = APIRouter(prefix="/privacy", route_class=PageRoute)

REASONS: Final = {
    "family-request": N_("The family asked for it"),
    "retention": N_("The retention period has passed"),
    "privacy-officer": N_("The privacy officer's own decision"),
}
BASES: Final = {
    "no-longer-necessary": N_("No longer needed for its purpose (art. 17(1)(a))"),
    "consent-withdrawn": N_("Consent withdrawn (art. 17(1)(b))"),
    "objection": N_("The family objected (art. 17(1)(c))"),
    "unlawful-processing": N_("Processed unlawfully (art. 17(1)(d))"),
    "legal-obligation": N_("A legal obligation to erase (art. 17(1)(e))"),
}
STATES: Final = {
    "requested": N_("Waiting for a second person's approval"),
    "rejected": N_("Rejected or withdrawn"),
    "erasing": N_("Being erased: waiting for the services"),
    "erased": N_("Erased everywhere"),
}
HOLDS: Final = {
    "meldcode-report": N_(
        "A report to Veilig Thuis under the Meldcode must be kept (AVG art. 17(3)):"
        " the family's data cannot be erased."
    ),
}
PRIVACY_NOTICES: Final = {
    "requested": N_(
        "The erasure is requested. A coordinator or another privacy officer must approve it."
    ),
    "approved": N_("The erasure is approved: every service is erasing the family now."),
    "rejected": N_("The request is closed; nothing was erased."),
    "pending": N_("This family already has an erasure request that is not finished."),
    "erased": N_("This family was erased already."),
    "four-eyes": N_("You requested this erasure: someone else must approve it."),
    "not-requested": N_("The request is no longer waiting for a decision."),
    "changed": N_("The request changed meanwhile; look again."),
    "choose": N_("Choose the reason and the legal ground."),
    "not-found": N_("No family with this number."),
}
_CODE = re.compile(r"^([a-z-]+(?::[a-z-]+)?):")
DECIDERS = (Role.PRIVACY_OFFICER, Role.COORDINATOR)


def _code(detail: str) -> str:
    """The code a privacy answer starts with (`legal-hold:meldcode-report: ...`)."""
    match = _CODE.match(detail)
    return match.group(1) if match else ""


def _notice(code: str) -> str:
    if code.startswith("legal-hold:"):
        return "hold"
    return code if code in PRIVACY_NOTICES else ""


async def _intake(request: Request, viewer: Viewer, method: str, path: str, **kw: Any) -> Any:
    reply = await gateway(request).clients.call(
        "intake", method, path, viewer.caller, headers={"X-Access-Reason": "avg-request"}, **kw
    )
    return reply.data


def _page(request: Request, template: str, viewer: Viewer, **context: Any) -> HTMLResponse:
    return render(
        request,
        template,
        viewer,
        reasons=REASONS,
        bases=BASES,
        states=STATES,
        holds=HOLDS,
        privacy_notices=PRIVACY_NOTICES,
        **context,
    )


@router.get("", response_class=HTMLResponse)
async def privacy_home(
    request: Request, viewer: CurrentViewer, name: str = "", notice: str = ""
) -> HTMLResponse:
    """Privacy officer: find a family, the requests and the deletion log. Coordinator: the
    requests waiting for her approval."""
    require_role(viewer, *DECIDERS)
    matches: list[dict[str, Any]] | None = None
    query = name.strip()[:100]
    if viewer.user.role is Role.PRIVACY_OFFICER and len(query) >= 2:
        matches = (
            await _intake(request, viewer, "GET", "/privacy/families", params={"name": query})
        )["results"]
    everything = (
        await _intake(request, viewer, "GET", "/privacy/erasures", params={"limit": 200})
    )["results"]
    return _page(
        request,
        "privacy.html",
        viewer,
        query=query,
        matches=matches,
        waiting=[r for r in everything if r["state"] == "requested"],
        erasing=[r for r in everything if r["state"] == "erasing"],
        erased=[r for r in everything if r["state"] == "erased"],
        notice=notice if notice in PRIVACY_NOTICES else "",
    )


async def _family(
    request: Request, viewer: Viewer, family_id: uuid.UUID
) -> tuple[dict[str, Any] | None, str]:
    """The family as intake shows it to the privacy officer, or None and why: "not-found" (no
    such family) or "erased"."""
    try:
        found: dict[str, Any] = await _intake(
            request, viewer, "GET", f"/privacy/families/{family_id}"
        )
    except NotFoundError:
        return None, "not-found"
    except ServiceUnavailableError as unavailable:
        if unavailable.status == GONE:
            return None, "erased"
        raise
    return found, ""


async def _family_page(
    request: Request,
    viewer: Viewer,
    family_id: uuid.UUID,
    *,
    notice: str = "",
    hold: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """One family: who it is, the export and erasure forms, its requests so far. An unknown
    family is a 404 with no forms; an erased one shows its requests only."""
    (family, missing), erasures = await asyncio.gather(
        _family(request, viewer, family_id),
        _intake(request, viewer, "GET", "/privacy/erasures", params={"family_id": str(family_id)}),
    )
    if missing == "not-found":
        notice, status_code = missing, 404
    elif missing and status_code < 400:
        notice = notice or missing
    return _page(
        request,
        "privacy_family.html",
        viewer,
        family_id=str(family_id),
        family=family,
        requests=erasures["results"],
        notice=notice,
        hold=hold,
        values=values or {},
        status_code=status_code,
    )


@router.get("/families/{family_id}", response_class=HTMLResponse)
async def family_page(
    request: Request, family_id: uuid.UUID, viewer: CurrentViewer, notice: str = ""
) -> HTMLResponse:
    """One family: download its export, request its erasure, its requests so far."""
    require_role(viewer, Role.PRIVACY_OFFICER)
    return await _family_page(
        request, viewer, family_id, notice=notice if notice in PRIVACY_NOTICES else ""
    )


@router.post("/families/{family_id}/export", response_model=None)
async def download_export(
    request: Request, family_id: uuid.UUID, viewer: CurrentViewer
) -> Response:
    """The whole export as one ZIP (JSON + Dutch HTML), built now and never kept; every
    service audits it. A service that does not answer means no export at all."""
    require_role(viewer, Role.PRIVACY_OFFICER)
    await checked_form(request, viewer)
    gw = gateway(request)
    try:
        bundle = await build(gw.clients, gw.templates, viewer.caller, str(family_id))
    except FamilyUnknownError:
        raise NotFoundError("intake", 404) from None
    except FamilyErasedError:
        return await _family_page(request, viewer, family_id, notice="erased", status_code=410)
    except ExportIncompleteError as incomplete:
        return _page(
            request,
            "privacy_export_failed.html",
            viewer,
            family_id=str(family_id),
            services=incomplete.services,
            status_code=503,
        )
    return Response(
        bundle.zip_bytes(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="avg-export-{family_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/families/{family_id}/erasure", response_model=None)
async def request_erasure(
    request: Request, family_id: uuid.UUID, viewer: CurrentViewer
) -> Response:
    """Record an erasure request (reason and legal ground); someone else approves it."""
    require_role(viewer, Role.PRIVACY_OFFICER)
    form = await checked_form(request, viewer)
    values = {"reason": field(form, "reason"), "basis": field(form, "basis")}
    if values["reason"] not in REASONS or values["basis"] not in BASES:
        return await _family_page(
            request, viewer, family_id, notice="choose", values=values, status_code=422
        )
    try:
        created = await _intake(
            request,
            viewer,
            "POST",
            "/privacy/erasures",
            json={"family_id": str(family_id), **values},
        )
    except NotFoundError:
        return await _family_page(
            request, viewer, family_id, notice="not-found", values=values, status_code=404
        )
    except InvalidError:
        return await _family_page(
            request, viewer, family_id, notice="choose", values=values, status_code=422
        )
    except ConflictError as refused:
        code = _code(refused.detail)
        hold = code.split(":", 1)[1] if code.startswith("legal-hold:") else ""
        return await _family_page(
            request,
            viewer,
            family_id,
            notice=_notice(code),
            hold=hold if hold in HOLDS else "",
            values=values,
            status_code=409,
        )
    return redirect(f"/privacy/erasures/{created['id']}?notice=requested")


@router.get("/erasures/{request_id}", response_class=HTMLResponse)
async def erasure_page(
    request: Request, request_id: uuid.UUID, viewer: CurrentViewer, notice: str = ""
) -> HTMLResponse:
    """One request: who asked, why, its state and, once approved, per service confirmed or
    waiting (refreshing itself while the services work)."""
    require_role(viewer, *DECIDERS)
    erasure = await _intake(request, viewer, "GET", f"/privacy/erasures/{request_id}")
    return _page(
        request,
        "privacy_erasure.html",
        viewer,
        erasure=erasure,
        may_decide=erasure["state"] == "requested" and erasure["requested_by"] != viewer.user.id,
        may_withdraw=erasure["state"] == "requested" and erasure["requested_by"] == viewer.user.id,
        notice=notice if notice in PRIVACY_NOTICES else "",
        hold="",
    )


@router.post("/erasures/{request_id}/{decision}", response_model=None)
async def decide(
    request: Request, request_id: uuid.UUID, decision: str, viewer: CurrentViewer
) -> Response:
    """Approve or reject (withdraw) a request, as intake allows."""
    require_role(viewer, *DECIDERS)
    await checked_form(request, viewer)
    if decision not in ("approve", "reject"):
        raise NotFoundError("gateway", 404)
    target = f"/privacy/erasures/{request_id}"
    try:
        await _intake(request, viewer, "POST", f"{target}/{decision}")
    except ForbiddenError:
        return redirect(f"{target}?notice=four-eyes")
    except ConflictError as refused:
        code = _code(refused.detail)
        if code.startswith("legal-hold:"):
            erasure = await _intake(request, viewer, "GET", target)
            return _page(
                request,
                "privacy_erasure.html",
                viewer,
                erasure=erasure,
                may_decide=False,
                may_withdraw=erasure["requested_by"] == viewer.user.id,
                notice="",
                hold=code.split(":", 1)[1],
                status_code=409,
            )
        return redirect(f"{target}?notice={_notice(code) or 'changed'}")
    return redirect(f"{target}?notice={'approved' if decision == 'approve' else 'rejected'}")
