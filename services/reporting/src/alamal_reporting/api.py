"""HTTP API: suppressed report tables as JSON, CSV or XLSX, charts and the jaarverslag."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from alamal_reporting import charts, exports, jaarverslag
from alamal_reporting.access import may_see_staff, report_scope
from alamal_reporting.domain import reports
from alamal_reporting.domain.model import Period, ReadModel, read_model
from alamal_reporting.domain.tables import Table
from alamal_reporting.store import snapshot
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.store import Store

router = APIRouter(prefix="/reports", tags=["reports"])

MAX_PERIOD_DAYS: Final = 3660
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHARTS: Final = {
    "contacts-per-month": ("contacts", "month", "Contacten per maand"),
    "families-per-wijk": ("families", "wijk", "Gezinnen per wijk"),
    "referrals-per-partner-kind": ("referrals", "partner-kind", "Doorverwijzingen per partner"),
}
MIN_YEAR: Final = 2000


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )


def _choice(field: str, value: str, allowed: list[str]) -> str:
    if value not in allowed:
        # The message lists what is allowed and never echoes what was sent.
        raise _invalid(field, f"unknown {field}; allowed: {', '.join(allowed)}")
    return value


def _period(start: str | None, end: str | None) -> Period:
    days: dict[str, date] = {}
    for field, value in (("from", start), ("to", end)):
        try:
            if value is None:
                raise ValueError
            days[field] = date.fromisoformat(value)
        except ValueError:
            raise _invalid(field, "required: a date YYYY-MM-DD") from None
    period = Period(days["from"], days["to"])
    if period.start > period.end:
        raise _invalid("to", "must be on or after `from`")
    if (period.end - period.start).days > MAX_PERIOD_DAYS:
        raise _invalid("to", f"a period spans at most {MAX_PERIOD_DAYS} days")
    return period


async def _model(request: Request, scope: frozenset[str] | None) -> ReadModel:
    store: Store = request.app.state.store
    return read_model(await snapshot(store), wijken=scope)


def _table_json(table: Table, period: Period) -> dict[str, Any]:
    return {
        "report": table.report,
        "breakdown": table.breakdown,
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "columns": list(table.columns),
        "rows": [{"label": row.label, "cells": list(row.cells)} for row in table.rows],
        "total": list(table.total.cells),
    }


@router.get("")
async def catalogue(principal: CurrentPrincipal) -> dict[str, list[str]]:
    """The reports and the breakdowns of each that the caller may ask for."""
    report_scope(principal)
    charts.warm_up()  # the reports are being opened: their charts usually follow
    return {
        report: [
            b
            for b in builders
            if (report, b) not in reports.STAFF_BREAKDOWNS or may_see_staff(principal)
        ]
        for report, builders in reports.REPORTS.items()
    }


@router.get("/charts/{chart}")
async def chart(
    request: Request,
    principal: CurrentPrincipal,
    chart: str,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    fmt: Annotated[Literal["png", "svg"], Query(alias="format")] = "png",
) -> Response:
    """A standard chart (PNG 800x450 or SVG), suppressed bars left out."""
    scope = report_scope(principal)
    report, breakdown, title = CHARTS[_choice("chart", chart, sorted(CHARTS))]
    period = _period(start, end)
    table = reports.build(await _model(request, scope), report, breakdown, period)
    image = await asyncio.to_thread(charts.bar_chart, table, title=title, fmt=fmt)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(image, media_type=media, headers={"Cache-Control": "no-store"})


@router.get("/jaarverslag/{year}", response_class=HTMLResponse)
async def yearly(request: Request, principal: CurrentPrincipal, year: int) -> HTMLResponse:
    """The jaarverslag of one year as a single HTML document in Dutch."""
    scope = report_scope(principal)
    this_year = datetime.now(UTC).year
    if not MIN_YEAR <= year <= this_year:
        raise RequestValidationError(
            [
                {
                    "loc": ("path", "year"),
                    "msg": f"a year from {MIN_YEAR} to {this_year}",
                    "type": "value_error",
                }
            ]
        )
    model = await _model(request, scope)
    today = datetime.now(UTC).date()
    html = await asyncio.to_thread(jaarverslag.render, model, year, today=today)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/{report}", response_model=None)
async def report_table(
    request: Request,
    principal: CurrentPrincipal,
    report: str,
    breakdown: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    fmt: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
) -> Response | dict[str, Any]:
    """One report over a period by one breakdown, suppressed, as JSON, CSV or XLSX."""
    scope = report_scope(principal)
    _choice("report", report, sorted(reports.REPORTS))
    allowed = sorted(reports.REPORTS[report])
    chosen = _choice("breakdown", breakdown or "", allowed)
    if (report, chosen) in reports.STAFF_BREAKDOWNS and not may_see_staff(principal):
        raise HTTPProblem(403, "breakdowns by staff member are for coordinators only")
    period = _period(start, end)
    table = reports.build(await _model(request, scope), report, chosen, period)
    name = f"{report}-{chosen}-{period.start.isoformat()}-{period.end.isoformat()}"
    if fmt == "csv":
        return Response(
            exports.to_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        data = await asyncio.to_thread(exports.to_xlsx, [table])
        return Response(
            data,
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return _table_json(table, period)
