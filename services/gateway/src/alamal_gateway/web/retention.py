"""The privacy officer's retention page: what every service deleted under its retention rules
(the deletion log, merged), what they would delete within N days (the dry run), and running the
rules now after a confirmation.

Every service decides and audits its own retention routes (privacy officer only): this page
asks all four and shows what answered, naming a service that did not. Another role is refused
here, and the attempt is put to every service as well, so that each records the refusal in its
access audit as it does for its own routes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final, NoReturn

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alamal_gateway.clients import SERVICES, ServiceError
from alamal_gateway.i18n import N_
from alamal_gateway.retention_view import (
    CATEGORY,
    COUNTED,
    LOG_LIMIT,
    MAX_WITHIN_DAYS,
    RULE,
    TRIGGER,
    Answer,
    RetentionView,
    look_ahead,
    merge,
)
from alamal_gateway.web.core import (
    CurrentViewer,
    PageForbiddenError,
    Viewer,
    checked_form,
    redirect,
    render,
)
from alamal_gateway.web.errors import PageRoute, trace_ids
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(prefix="/retention", route_class=PageRoute)

ACCESS_REASON: Final = "retention-review"
"""The reason code each service records in its access audit for these calls."""
RETENTION_NOTICES: Final = {
    "ran": N_("The rules ran now in every service. What they deleted is in the log below."),
    "not-run": N_("The rules did not run: no service answered. Try again in a moment."),
    "ran-partly": N_(
        "The rules ran now, but not in every service; they run there later on their own schedule."
    ),
}


async def _ask(
    request: Request, viewer: Viewer, service: str, method: str, path: str, **kw: Any
) -> Any:
    reply = await gateway(request).clients.call(
        service, method, path, viewer.caller, headers={"X-Access-Reason": ACCESS_REASON}, **kw
    )
    return reply.data


def _items(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def _answer(
    request: Request, viewer: Viewer, service: str, days: int, *, with_log: bool
) -> Answer | ServiceError:
    """One service's log (unless only the dry run is wanted) and dry run, or why not."""
    log_params = {"limit": LOG_LIMIT}
    asked = await asyncio.gather(
        _ask(request, viewer, service, "GET", "/privacy/retention", params=log_params)
        if with_log
        else asyncio.sleep(0),
        _ask(
            request,
            viewer,
            service,
            "GET",
            "/privacy/retention/preview",
            params={"within_days": days},
        ),
        return_exceptions=True,
    )
    for answered in asked:
        if isinstance(answered, ServiceError):
            return answered
        if isinstance(answered, BaseException):
            raise answered
    shown, preview = asked
    last_run = shown.get("last_run") if isinstance(shown, dict) else None
    return Answer(
        service=service,
        log=_items(shown, "log"),
        last_run=last_run if isinstance(last_run, dict) else None,
        preview=_items(preview, "results"),
    )


async def _view(
    request: Request, viewer: Viewer, days: int, *, with_log: bool = True
) -> tuple[RetentionView, list[str]]:
    """Ask every service at once; the merged view and the operator's references."""
    answers = await asyncio.gather(
        *(_answer(request, viewer, s, days, with_log=with_log) for s in SERVICES)
    )
    failed = [a for a in answers if isinstance(a, ServiceError)]
    view = merge((a for a in answers if isinstance(a, Answer)), (f.service for f in failed))
    return view, trace_ids(*failed)


async def _refuse(request: Request, viewer: Viewer) -> NoReturn:
    """Not a privacy officer: each service hears the attempt (and audits its refusal)."""

    async def attempt(service: str) -> None:
        with contextlib.suppress(ServiceError):
            await _ask(request, viewer, service, "GET", "/privacy/retention", params={"limit": 1})

    await asyncio.gather(*(attempt(s) for s in SERVICES))
    raise PageForbiddenError


def _page(
    request: Request,
    template: str,
    viewer: Viewer,
    view: RetentionView,
    references: list[str],
    **context: Any,
) -> HTMLResponse:
    return render(
        request,
        template,
        viewer,
        view=view,
        categories=CATEGORY,
        rules=RULE,
        counted=COUNTED,
        triggers=TRIGGER,
        retention_notices=RETENTION_NOTICES,
        max_days=MAX_WITHIN_DAYS,
        log_limit=LOG_LIMIT,
        trace_ids=references,
        status_code=200 if view.answered else 503,
        **context,
    )


@router.get("", response_class=HTMLResponse)
async def retention_page(
    request: Request,
    viewer: CurrentViewer,
    within_days: str = "",
    notice: str = "",
    missed: str = "",
) -> HTMLResponse:
    """The deletion log of every service, and the dry run `within_days` ahead (default 30)."""
    if viewer.user.role is not Role.PRIVACY_OFFICER:
        await _refuse(request, viewer)
    days, invalid = look_ahead(within_days)
    view, references = await _view(request, viewer, days)
    return _page(
        request,
        "privacy_retention.html",
        viewer,
        view,
        references,
        within_days=days,
        days_invalid=invalid,
        notice=notice if notice in RETENTION_NOTICES else "",
        missed=[s for s in SERVICES if s in missed.split(",")],
    )


@router.get("/run", response_class=HTMLResponse)
async def confirm_run(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """Before running the rules by hand: what they would delete now, and the button."""
    if viewer.user.role is not Role.PRIVACY_OFFICER:
        await _refuse(request, viewer)
    view, references = await _view(request, viewer, 0, with_log=False)
    return _page(request, "privacy_retention_run.html", viewer, view, references)


@router.post("/run", response_model=None)
async def run_now(request: Request, viewer: CurrentViewer) -> RedirectResponse:
    """Run every service's rules now (each service audits it); then the log shows the result."""
    if viewer.user.role is not Role.PRIVACY_OFFICER:
        await _refuse(request, viewer)
    await checked_form(request, viewer)

    async def run(service: str) -> str | None:
        try:
            await _ask(request, viewer, service, "POST", "/privacy/retention/run")
        except ServiceError:
            return service
        return None

    missed = [s for s in await asyncio.gather(*(run(s) for s in SERVICES)) if s]
    if not missed:
        return redirect("/retention?notice=ran")
    if len(missed) == len(SERVICES):
        return redirect("/retention?notice=not-run")
    return redirect(f"/retention?notice=ran-partly&missed={','.join(missed)}")
