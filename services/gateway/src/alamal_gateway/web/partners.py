"""Partners and their webhook endpoints, delivery log and resend (admin), from notifications.

Secrets of new endpoints are shown once on the answer page and never stored by the gateway.
"""

from __future__ import annotations

import uuid
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
from alamal_gateway.labels import PARTNER_KIND, delivery_problem
from alamal_gateway.web.core import (
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
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(prefix="/admin", route_class=PageRoute)

EVENT_TYPES = ("referral.escalated", "referral.updated")


async def _partners_page(
    request: Request,
    viewer: Viewer,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    secret: str | None = None,
    credential: dict[str, str] | None = None,
    problem: tuple[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    clients = gateway(request).clients
    state, partners = "ok", []
    try:
        partners = results(
            (await clients.call("notifications", "GET", "/partners", viewer.caller)).data
        )
        for partner in partners:
            partner["credentials"] = results(
                (
                    await clients.call(
                        "notifications",
                        "GET",
                        f"/partners/{partner['id']}/credentials",
                        viewer.caller,
                    )
                ).data
            )
            partner["endpoints"] = results(
                (
                    await clients.call(
                        "notifications",
                        "GET",
                        f"/partners/{partner['id']}/endpoints",
                        viewer.caller,
                    )
                ).data
            )
    except ServiceUnavailableError:
        state = "down"
    except (NotFoundError, ForbiddenError):
        state = "missing"
    return render(
        request,
        "partners.html",
        viewer,
        status_code=status_code,
        state=state,
        partners=partners,
        partner_kinds=list(PARTNER_KIND),
        event_types=EVENT_TYPES,
        notice=notice,
        errors=errors or {},
        values=values or {"name": "", "kind": "", "url": "", "partner_id": ""},
        secret=secret,
        credential=credential,
        problem=problem,
    )


@router.get("/partners", response_class=HTMLResponse)
async def partners_page(request: Request, viewer: CurrentViewer, notice: str = "") -> HTMLResponse:
    """Every partner with its webhook endpoints."""
    require_role(viewer, Role.ADMIN)
    return await _partners_page(request, viewer, notice=notice)


@router.post("/partners", response_model=None)
async def add_partner(request: Request, viewer: CurrentViewer) -> Response:
    """Register a partner organisation."""
    require_role(viewer, Role.ADMIN)
    form = await checked_form(request, viewer)
    values = {
        "name": field(form, "name")[:120],
        "kind": field(form, "kind"),
        "url": "",
        "partner_id": "",
    }
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "required"
    if values["kind"] not in PARTNER_KIND:
        errors["kind"] = "choose"
    if not errors:
        try:
            await gateway(request).clients.call(
                "notifications",
                "POST",
                "/partners",
                viewer.caller,
                json={"name": values["name"], "kind": values["kind"]},
            )
            return redirect("/admin/partners?notice=partner-created")
        except InvalidError as invalid:
            errors = {f if f in ("name", "kind") else "name": "invalid" for f in invalid.fields}
        except ServiceUnavailableError:
            return await _partners_page(
                request, viewer, values=values, notice="unavailable", status_code=503
            )
    return await _partners_page(request, viewer, values=values, errors=errors, status_code=422)


@router.post("/partners/{partner_id}/endpoints", response_model=None)
async def add_endpoint(request: Request, partner_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Add a webhook endpoint; its signing secret is shown once, here. A refusal keeps what
    was typed and says why (the test delivery's real cause, in the admin's language)."""
    require_role(viewer, Role.ADMIN)
    form = await checked_form(request, viewer)
    url = field(form, "url")[:2000]
    chosen = [t for t in fields(form, "event_types") if t in EVENT_TYPES]
    description = field(form, "description")[:200]
    values = {
        "name": "",
        "kind": "",
        "url": url,
        "partner_id": str(partner_id),
        "event_types": chosen,
        "description": description,
    }
    try:
        reply = await gateway(request).clients.call(
            "notifications",
            "POST",
            f"/partners/{partner_id}/endpoints",
            viewer.caller,
            json={
                "url": url,
                "event_types": chosen or list(EVENT_TYPES),
                "description": description,
            },
        )
    except InvalidError as invalid:
        errors = {f"url-{partner_id}": "url"}
        problem = delivery_problem(invalid.messages.get("url", ""))
        return await _partners_page(
            request, viewer, values=values, errors=errors, problem=problem, status_code=422
        )
    except ServiceUnavailableError:
        return await _partners_page(
            request, viewer, values=values, notice="unavailable", status_code=503
        )
    secret = reply.data.get("secret") if isinstance(reply.data, dict) else None
    return await _partners_page(request, viewer, notice="endpoint-created", secret=secret)


@router.post("/partners/{partner_id}/credentials", response_model=None)
async def add_credential(
    request: Request, partner_id: uuid.UUID, viewer: CurrentViewer
) -> Response:
    """A new partner-API credential; its secret is shown on this answer only."""
    require_role(viewer, Role.ADMIN)
    await checked_form(request, viewer)
    try:
        reply = await gateway(request).clients.call(
            "notifications", "POST", f"/partners/{partner_id}/credentials", viewer.caller
        )
    except ServiceUnavailableError:
        return await _partners_page(request, viewer, notice="unavailable", status_code=503)
    data = reply.data if isinstance(reply.data, dict) else {}
    credential = {
        "client_id": str(data.get("client_id", "")),
        "client_secret": str(data.get("client_secret", "")),
    }
    return await _partners_page(request, viewer, notice="credential-created", credential=credential)


@router.post("/partners/{partner_id}/credentials/revoke", response_model=None)
async def revoke_credential(
    request: Request, partner_id: uuid.UUID, viewer: CurrentViewer
) -> Response:
    """Revoke one credential: the partner's calls with it fail from now on."""
    require_role(viewer, Role.ADMIN)
    form = await checked_form(request, viewer)
    client_id = field(form, "client_id")[:40]
    try:
        await gateway(request).clients.call(
            "notifications",
            "DELETE",
            f"/partners/{partner_id}/credentials/{client_id}",
            viewer.caller,
        )
    except ServiceUnavailableError:
        return redirect("/admin/partners?notice=unavailable")
    return redirect("/admin/partners?notice=credential-revoked")


@router.get("/endpoints/{endpoint_id}", response_class=HTMLResponse)
async def endpoint_page(
    request: Request, endpoint_id: uuid.UUID, viewer: CurrentViewer, notice: str = ""
) -> HTMLResponse:
    """One endpoint: its messages (failed first) and the delivery log of attempts."""
    require_role(viewer, Role.ADMIN)
    clients = gateway(request).clients
    eid = str(endpoint_id)
    endpoint = (await clients.call("notifications", "GET", f"/endpoints/{eid}", viewer.caller)).data
    messages = results(
        (
            await clients.call("notifications", "GET", f"/endpoints/{eid}/messages", viewer.caller)
        ).data
    )
    attempts = results(
        (
            await clients.call("notifications", "GET", f"/endpoints/{eid}/attempts", viewer.caller)
        ).data
    )
    messages.sort(key=lambda m: (m.get("state") != "failed", str(m.get("created_at"))))
    return render(
        request,
        "endpoint.html",
        viewer,
        endpoint=endpoint,
        messages=messages,
        attempts=attempts,
        notice=notice,
        delivery_problem=delivery_problem,
    )


@router.post("/endpoints/{endpoint_id}/{action}", response_model=None)
async def endpoint_action(
    request: Request, endpoint_id: uuid.UUID, action: str, viewer: CurrentViewer
) -> Response:
    """Enable or disable an endpoint, or resend one message (same webhook-id)."""
    require_role(viewer, Role.ADMIN)
    form = await checked_form(request, viewer)
    clients = gateway(request).clients
    back = f"/admin/endpoints/{endpoint_id}"
    try:
        if action in ("enable", "disable"):
            await clients.call(
                "notifications",
                "PATCH",
                f"/endpoints/{endpoint_id}",
                viewer.caller,
                json={"enabled": action == "enable"},
            )
            return redirect(f"{back}?notice=endpoint-changed")
        if action == "verify":
            try:
                await clients.call(
                    "notifications", "POST", f"/endpoints/{endpoint_id}/verify", viewer.caller
                )
            except ConflictError:
                return redirect(f"{back}?notice=verification-failed")
            return redirect(f"{back}?notice=endpoint-verified")
        if action == "resend":
            message_id = field(form, "message_id")[:64]
            await clients.call(
                "notifications",
                "POST",
                f"/endpoints/{endpoint_id}/messages/{message_id}/resend",
                viewer.caller,
            )
            return redirect(f"{back}?notice=resent")
    except ConflictError:
        return redirect(f"{back}?notice=endpoint-disabled")
    except ServiceUnavailableError:
        return redirect(f"{back}?notice=unavailable")
    raise NotFoundError("gateway", 404)
