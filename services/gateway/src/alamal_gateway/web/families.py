"""Caseload (with finding a family) and the family page."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

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
    OUTCOME,
    TOPIC,
    WIJK,
)
from alamal_gateway.web.core import (
    CASEWORK,
    CurrentViewer,
    Viewer,
    render,
    require_role,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.names import (
    family_names,
    partner_names,
    staff_names,
    trusted_persons,
)
from alamal_gateway.web.offline_pages import keep_offline, pages_to_keep
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

SEARCH_PAGE = 20


@router.get("/caseload", response_class=HTMLResponse)
async def caseload(
    request: Request,
    viewer: CurrentViewer,
    q: Annotated[str, Query(max_length=100)] = "",
    wijk: Annotated[str, Query(max_length=40)] = "",
    tp: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str, Query(max_length=400)] = "",
) -> HTMLResponse:
    """Her open cases (overdue first; a coordinator: her wijken) and finding any family in
    scope by name, wijk or trusted person, twenty at a time."""
    require_role(viewer, *CASEWORK)
    clients = gateway(request).clients
    unavailable: list[str] = []
    entries: list[dict[str, Any]] = []
    try:
        entries = results((await clients.call("cases", "GET", "/caseload", viewer.caller)).data)
    except (ServiceUnavailableError, ForbiddenError):
        unavailable.append("cases")
    entries = [caseload_entry(e) for e in entries]
    entries.sort(key=lambda e: -int(e["days_overdue"] or 0))
    names = await family_names(request, viewer)
    if names is None:
        unavailable.append("intake")
    search = {"q": q.strip(), "wijk": wijk if wijk in WIJK else "", "tp": tp}
    found, next_cursor, search_error = await _search(request, viewer, search, cursor)
    coordinator = viewer.user.role is Role.COORDINATOR
    response = render(
        request,
        "caseload.html",
        viewer,
        entries=entries,
        names=names or {},
        unavailable=unavailable,
        search=search,
        searched=any(search.values()) or bool(cursor),
        found=found,
        next_cursor=next_cursor,
        search_error=search_error,
        wijken=[w for w in WIJK if w in viewer.user.wijken] if coordinator else [],
        trusted_persons=await trusted_persons(request, viewer),
        staff=await staff_names(request) if coordinator else {},
        offline_keep=pages_to_keep(entries),
    )
    if not request.url.query:
        keep_offline(response, viewer.user.role)
    return response


async def _search(
    request: Request, viewer: Viewer, search: dict[str, str], cursor: str
) -> tuple[list[dict[str, Any]] | None, str | None, str]:
    """One page of intake's family search: (families, next cursor, error code or '')."""
    if search["q"] and len(search["q"]) < 2:
        return [], None, "too-short"
    params: dict[str, Any] = {"limit": SEARCH_PAGE}
    if search["q"]:
        params["name"] = search["q"]
    if search["wijk"] and viewer.user.role is Role.COORDINATOR:
        params["wijk"] = search["wijk"]
    if search["tp"] and viewer.user.role is Role.COORDINATOR:
        try:
            params["trusted_person_id"] = str(uuid.UUID(search["tp"]))
        except ValueError:
            return [], None, "invalid"
    if cursor:
        params["cursor"] = cursor
    try:
        reply = await gateway(request).clients.call(
            "intake", "GET", "/families", viewer.caller, params=params
        )
    except InvalidError:
        return [], None, "invalid"
    except (ServiceUnavailableError, ForbiddenError):
        return None, None, ""
    data = reply.data if isinstance(reply.data, dict) else {}
    return results(data), data.get("next_cursor"), ""


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


async def _optional(coro: Any) -> Any:
    try:
        return (await coro).data
    except (ServiceUnavailableError, NotFoundError, ForbiddenError):
        return None


async def _listed(coro: Any) -> list[Any]:
    return results(await _optional(coro))


TIMELINE_PAGE = 30


def merged_timeline(
    entries: list[dict[str, Any]],
    consents: list[dict[str, Any]],
    *,
    first_page: bool,
    more: bool,
    registered_at: str | None = None,
) -> list[dict[str, Any]]:
    """Cases' timeline page with intake's consent answers that fall within it, newest first.

    The answers given at registration (recorded with the family itself) are one entry listing
    them all; each later change is an entry of its own. A page covers from its oldest entry up
    to its newest (to now on the first page); the last page reaches back to the beginning, so
    every consent answer lands on exactly one page.
    """
    items = [dict(e, source="cases") for e in entries]
    newest = None if first_page or not entries else str(entries[0]["at"])
    oldest = str(entries[-1]["at"]) if entries and more else None
    at_registration: dict[str, Any] | None = None
    for c in consents:
        at = str(c["recorded_at"])
        if not ((newest is None or at <= newest) and (oldest is None or at >= oldest)):
            continue
        answer = {"purpose": c["purpose"], "status": "yes" if c["granted"] else "no"}
        if registered_at is not None and _same_moment(at, registered_at):
            if at_registration is None:
                at_registration = {
                    "source": "intake",
                    "kind": "consent-registration",
                    "on": at[:10],
                    "at": at,
                    "by": c.get("recorded_by"),
                    "answers": [],
                }
                items.append(at_registration)
            at_registration["answers"].append(answer)
            continue
        items.append(
            {
                "source": "intake",
                "kind": "consent",
                "on": at[:10],
                "at": at,
                "by": c.get("recorded_by"),
                "status": answer["status"],
                "codes": [c["purpose"]],
            }
        )
    return sorted(items, key=lambda i: (str(i["on"]), str(i["at"])), reverse=True)


def _same_moment(one: str, other: str) -> bool:
    try:
        return datetime.fromisoformat(one) == datetime.fromisoformat(other)
    except ValueError:
        return one == other


@router.get("/families/{family_id}", response_class=HTMLResponse)
async def family_page(
    request: Request,
    family_id: uuid.UUID,
    viewer: CurrentViewer,
    notice: str = "",
    older: Annotated[str, Query(max_length=400)] = "",
) -> HTMLResponse:
    """Members, consent with its history, each case's plan, referrals and timeline."""
    require_role(viewer, *CASEWORK)
    context = await family_context(request, viewer, family_id, older=older)
    return render(request, "family.html", viewer, notice=notice, **context)


@router.get("/families/{family_id}/summary", response_class=HTMLResponse)
async def family_summary(
    request: Request, family_id: uuid.UUID, viewer: CurrentViewer, notes: bool = False
) -> HTMLResponse:
    """The family on paper for a meeting with a partner: no forms, and no private notes
    unless she chose to include them."""
    require_role(viewer, *CASEWORK)
    context = await family_context(request, viewer, family_id, older="")
    response = render(request, "family_summary.html", viewer, with_notes=notes, **context)
    if not request.url.query:  # the summary without private notes is what a device keeps
        keep_offline(response, viewer.user.role)
    return response


async def _cases_of(request: Request, viewer: Viewer, fid: str) -> list[dict[str, Any]] | None:
    """The family's cases, or None when cases does not answer."""
    try:
        reply = await gateway(request).clients.call(
            "cases", "GET", "/cases", viewer.caller, params={"family_id": fid}
        )
    except ServiceUnavailableError:
        return None
    return results(reply.data)


async def family_context(
    request: Request, viewer: Viewer, family_id: uuid.UUID, *, older: str
) -> dict[str, Any]:
    """What the family page and its printed summary show, from intake, cases and partners.

    The calls that do not depend on each other run together (a page in a living room on a
    slow connection should not wait for seven answers one after the other)."""
    clients = gateway(request).clients
    fid = str(family_id)
    family = (await clients.call("intake", "GET", f"/families/{fid}", viewer.caller)).data
    coordinator = viewer.user.role is Role.COORDINATOR
    history, cases, partners, staff, people = await asyncio.gather(
        _optional(clients.call("intake", "GET", f"/families/{fid}/consents", viewer.caller)),
        _cases_of(request, viewer, fid),
        partner_names(request, viewer),
        staff_names(request),
        trusted_persons(request, viewer) if coordinator else _nothing(),
    )
    consent_history = list(history.get("history", [])) if isinstance(history, dict) else []
    ordered = sorted(cases or [], key=lambda c: str(c["opened_at"]), reverse=True)
    params: dict[str, Any] = {"limit": TIMELINE_PAGE}
    if older:
        params["cursor"] = older

    async def detail(case: dict[str, Any]) -> dict[str, Any]:
        cid = case["id"]
        page, referrals, plan = await asyncio.gather(
            _optional(
                clients.call("cases", "GET", f"/cases/{cid}/timeline", viewer.caller, params=params)
            ),
            _listed(clients.call("cases", "GET", f"/cases/{cid}/referrals", viewer.caller)),
            _optional(clients.call("cases", "GET", f"/cases/{cid}/plan", viewer.caller)),
        )
        more = page.get("next_cursor") if isinstance(page, dict) else None
        return {
            "case": case,
            "referrals": referrals,
            "plan": plan,
            "timeline": None
            if page is None
            else merged_timeline(
                results(page),
                consent_history if case is ordered[0] else [],
                first_page=not older,
                more=bool(more),
                registered_at=family.get("registered_at"),
            ),
            "older": more,
        }

    details = list(await asyncio.gather(*(detail(c) for c in ordered)))
    return {
        "family": family,
        "consents": {c["purpose"]: c["granted"] for c in family["consents"]},
        "consent_history": consent_history,
        "cases": details,
        "cases_unavailable": cases is None,
        "paged": bool(older),
        "topics": list(TOPIC),
        "goal_statuses": list(GOAL_STATUS),
        "outcomes": list(OUTCOME),
        "purposes": list(CONSENT),
        "partners": partners,
        "staff": staff,
        "trusted_persons": people,
    }


async def _nothing() -> list[dict[str, str]]:
    return []
