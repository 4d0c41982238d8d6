"""The yearly accountability report (jaarverslag): one self-contained HTML document in Dutch."""

from __future__ import annotations

import base64
from datetime import date
from typing import Final

from jinja2 import Environment, PackageLoader, select_autoescape

from alamal_reporting.charts import bar_chart
from alamal_reporting.domain import reports
from alamal_reporting.domain.model import Period, ReadModel
from alamal_reporting.domain.tables import Table

_COLUMNS: Final = {
    "families": "gezinnen",
    "contacts": "contacten",
    "referrals": "doorverwijzingen",
    "goals": "doelen",
    "cases": "casussen",
    "median_days_to_acceptance": "mediaan dagen tot acceptatie",
}

# (title, [(report, breakdown, caption)], chart from the first table or not)
_SECTIONS: Final = (
    (
        "Bereikte gezinnen",
        [
            ("families", "wijk", "Gezinnen per wijk"),
            ("families", "project", "Gezinnen per project"),
            ("families", "intake-source", "Gezinnen per aanmelder"),
            ("families", "household", "Gezinnen per gezinssamenstelling"),
        ],
        True,
    ),
    (
        "Contacten",
        [
            ("contacts", "month", "Contacten per maand"),
            ("contacts", "kind", "Contacten per soort"),
            ("contacts", "topic", "Contacten per onderwerp"),
        ],
        True,
    ),
    (
        "Doorverwijzingen",
        [
            ("referrals", "partner-kind", "Doorverwijzingen per soort partner"),
            ("referrals", "urgency", "Doorverwijzingen per urgentie"),
            ("referrals", "legal-basis", "Doorverwijzingen per grondslag"),
            ("referrals", "status", "Doorverwijzingen per status"),
        ],
        True,
    ),
    (
        "Plannen en resultaten",
        [
            ("outcomes", "goal-status", "Doelen per stand"),
            ("outcomes", "goals-reached", "Bereikte doelen per leefgebied"),
            ("outcomes", "closure-outcome", "Afgesloten casussen per uitkomst"),
        ],
        False,
    ),
    (
        "Opvolging",
        [
            ("follow-up", "first-contact", "Dagen van opening tot eerste contact"),
            ("follow-up", "partner-response", "Dagen tot eerste antwoord van de partner"),
        ],
        False,
    ),
)


def _view(table: Table, caption: str) -> dict[str, object]:
    return {
        "caption": caption,
        "header": table.breakdown,
        "columns": [_COLUMNS.get(c, c) for c in table.columns],
        "rows": [
            {"label": r.label, "cells": ["" if c is None else c for c in r.cells]}
            for r in table.rows
        ],
        "total": ["" if c is None else c for c in table.total.cells],
    }


def render(model: ReadModel, year: int, *, today: date) -> str:
    """The jaarverslag of `year` as HTML, charts embedded as data URIs (no external assets)."""
    period = Period(date(year, 1, 1), date(year, 12, 31))
    environment = Environment(
        loader=PackageLoader("alamal_reporting", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    sections = []
    for title, specs, with_chart in _SECTIONS:
        tables = [reports.build(model, r, b, period) for r, b, _ in specs]
        chart = None
        if with_chart:
            png = bar_chart(tables[0], title=specs[0][2])
            chart = base64.b64encode(png).decode("ascii")
        sections.append(
            {
                "title": title,
                "chart": chart,
                "tables": [
                    _view(t, caption) for t, (_, _, caption) in zip(tables, specs, strict=True)
                ],
            }
        )
    return environment.get_template("jaarverslag.html.j2").render(
        year=year,
        period_from=period.start.isoformat(),
        period_to=period.end.isoformat(),
        sections=sections,
        generated_on=today.isoformat(),
    )
