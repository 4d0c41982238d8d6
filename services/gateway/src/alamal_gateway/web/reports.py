"""Reports for coordinators, proxied from the reporting service: tables, charts, CSV / XLSX."""

from __future__ import annotations

import re
from datetime import date
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
from alamal_gateway.web.core import CurrentViewer, render, require_role
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(prefix="/reports", route_class=PageRoute)

CHARTS: Final = ("families-per-wijk", "contacts-per-month", "referrals-per-partner-kind")
CHART_SOURCES: Final = {
    "families-per-wijk": ("families", "wijk"),
    "contacts-per-month": ("contacts", "month"),
    "referrals-per-partner-kind": ("referrals", "partner-kind"),
}
"""Each chart drawn from the report table it shows (the first column), in the page's words."""


def bars(table: Any) -> list[dict[str, Any]] | None:
    """A chart's bars from a report table: label, value, width in percent; None when every
    cell is suppressed or there is nothing to count (the page then says so)."""
    rows = table.get("rows", []) if isinstance(table, dict) else []
    values = [(str(r["label"]), r["cells"][0] if r.get("cells") else None) for r in rows]
    counted = [(label, v) for label, v in values if isinstance(v, int | float)]
    if not counted:
        return None
    top = max(v for _, v in counted) or 1
    return [
        {
            "label": label,
            "value": v if isinstance(v, int | float) else None,
            "width": max(5, round(100 * v / top)) if isinstance(v, int | float) else 0,
        }
        for label, v in values
    ]


_CODE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MEDIA: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _period(start: str, end: str) -> dict[str, str]:
    """The period asked for; by default this year up to today."""
    today = date.today()
    return {
        "from": start if _DATE.fullmatch(start) else today.replace(month=1, day=1).isoformat(),
        "to": end if _DATE.fullmatch(end) else today.isoformat(),
    }


@router.get("", response_class=HTMLResponse)
async def reports_page(
    request: Request,
    viewer: CurrentViewer,
    report: str = "families",
    breakdown: str = "",
    start: str = "",
    end: str = "",
) -> HTMLResponse:
    """Pick a report and breakdown; see the suppressed table, the charts and downloads."""
    require_role(viewer, Role.COORDINATOR)
    clients = gateway(request).clients
    state, catalogue, table, bad_period = "ok", {}, None, False
    try:
        catalogue = (await clients.call("reporting", "GET", "/reports", viewer.caller)).data
        if report not in catalogue:
            report = next(iter(catalogue), "")
        breakdowns = catalogue.get(report, [])
        if breakdown not in breakdowns:
            breakdown = breakdowns[0] if breakdowns else ""
        if report and breakdown:
            params = {"breakdown": breakdown, "format": "json", **_period(start, end)}
            try:
                table = (
                    await clients.call(
                        "reporting", "GET", f"/reports/{report}", viewer.caller, params=params
                    )
                ).data
            except InvalidError:
                bad_period = True
    except ServiceUnavailableError:
        state = "down"
    except (NotFoundError, ForbiddenError, ConflictError, InvalidError):
        state = "missing"
    charts: dict[str, list[dict[str, Any]] | None] = {}
    if state == "ok":
        for chart_name, (source, by) in CHART_SOURCES.items():
            if by not in catalogue.get(source, []):
                continue
            params = {"breakdown": by, "format": "json", **_period(start, end)}
            try:
                data = (
                    await clients.call(
                        "reporting", "GET", f"/reports/{source}", viewer.caller, params=params
                    )
                ).data
            except (ServiceUnavailableError, InvalidError, NotFoundError, ForbiddenError):
                continue
            charts[chart_name] = bars(data)
    return render(
        request,
        "reports.html",
        viewer,
        state=state,
        catalogue=catalogue,
        report=report,
        breakdown=breakdown,
        start=_period(start, end)["from"],
        end=_period(start, end)["to"],
        table=table,
        bad_period=bad_period,
        charts=charts,
    )


@router.get("/download/{report}.{fmt}", response_model=None)
async def download(
    request: Request,
    viewer: CurrentViewer,
    report: str,
    fmt: str,
    breakdown: str = "",
    start: str = "",
    end: str = "",
) -> Response:
    """The report as CSV or XLSX, straight from the reporting service."""
    require_role(viewer, Role.COORDINATOR)
    if fmt not in _MEDIA or not _CODE.fullmatch(report) or not _CODE.fullmatch(breakdown):
        raise NotFoundError("gateway", 404)
    params = {"breakdown": breakdown, "format": fmt, **_period(start, end)}
    reply = await gateway(request).clients.call(
        "reporting", "GET", f"/reports/{report}", viewer.caller, params=params
    )
    return Response(
        reply.content,
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{report}-{breakdown}.{fmt}"'},
    )


@router.get("/charts/{chart}.svg", response_model=None)
async def chart(
    request: Request, viewer: CurrentViewer, chart: str, start: str = "", end: str = ""
) -> Response:
    """A standard chart as SVG (shown as an image; scripts in it could never run)."""
    require_role(viewer, Role.COORDINATOR)
    if chart not in CHARTS:
        raise NotFoundError("gateway", 404)
    params: dict[str, Any] = {"format": "svg", **_period(start, end)}
    reply = await gateway(request).clients.call(
        "reporting", "GET", f"/reports/charts/{chart}", viewer.caller, params=params
    )
    return Response(
        reply.content,
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
