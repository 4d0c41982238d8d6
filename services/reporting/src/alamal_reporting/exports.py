"""CSV and XLSX exports of report tables, hardened against spreadsheet formula injection."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from alamal_reporting.domain.tables import Cell, Table

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Prefix text a spreadsheet could run as a formula with `'` (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(value: Cell) -> int | float | str | None:
    return safe_text(value) if isinstance(value, str) else value


def _rows(table: Table) -> list[list[int | float | str | None]]:
    header: list[int | float | str | None] = [table.breakdown, *table.columns]
    body = [[safe_text(row.label), *(_cell(c) for c in row.cells)] for row in table.rows]
    total = [table.total.label, *(_cell(c) for c in table.total.cells)]
    return [[safe_text(str(h)) for h in header], *body, total]


def to_csv(table: Table) -> str:
    """One table as CSV text: a header row, one row per category, then the total row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in _rows(table):
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """Tables as one workbook, a sheet per table; counts stay numbers, text is made inert."""
    from openpyxl import Workbook  # loaded on the first export, not at start

    workbook = Workbook()
    default_sheet = workbook.active
    if default_sheet is not None and tables:
        workbook.remove(default_sheet)
    for table in tables:
        # Sheet titles allow 31 characters and no `:/\\?*[]`.
        sheet = workbook.create_sheet(f"{table.report} {table.breakdown}"[:31])
        for row in _rows(table):
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
