"""CSV, XLSX, charts and the jaarverslag read back with independent readers (unit)."""

from __future__ import annotations

import csv
import io
import re
import struct
from datetime import date

from openpyxl import load_workbook

from alamal_reporting import charts, exports, jaarverslag
from alamal_reporting.domain.tables import Row, Table

from .flow import YEAR, standard_flow
from .test_domain import model_of, table

HOSTILE = Table(
    report="contacts",
    breakdown="trusted-person",
    columns=("contacts", "families"),
    rows=(
        Row('=HYPERLINK("http://x")', (12, 6)),
        Row("+1", ("<5", "<5")),
        Row("-2", (7, 5)),
        Row("@SUM(A1)", ("<5", "<5")),
        Row("\tTAB", (9, 9)),
        Row("\rCR", (10, 10)),
        Row("plain", (11, 11)),
    ),
    total=Row("total", (49, 33)),
)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_csv_reads_back_with_the_csv_module_and_is_formula_safe() -> None:
    rows = list(csv.reader(io.StringIO(exports.to_csv(HOSTILE))))
    assert rows[0] == ["trusted-person", "contacts", "families"]
    labels = [row[0] for row in rows[1:-1]]
    assert labels == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tTAB",
        "'\rCR",
        "plain",
    ]
    assert rows[2][1:] == ["<5", "<5"]
    assert rows[-1] == ["total", "49", "33"]


def test_xlsx_reads_back_with_openpyxl_numbers_as_numbers_text_inert() -> None:
    workbook = load_workbook(io.BytesIO(exports.to_xlsx([HOSTILE])))
    sheet = workbook.worksheets[0]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["trusted-person", "contacts", "families"]
    assert values[1] == ['\'=HYPERLINK("http://x")', 12, 6]
    assert all(
        isinstance(row[0], str) and not row[0].startswith(("=", "+", "-", "@")) for row in values
    )
    assert values[2][1:] == ["<5", "<5"]
    assert values[-1] == ["total", 49, 33]
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f"


def test_a_chart_is_a_png_of_the_fixed_size_and_leaves_suppressed_bars_out() -> None:
    model = model_of(e for _, e in standard_flow().events)
    t = table(model, "families", "wijk")
    png = charts.bar_chart(t, title="Gezinnen per wijk")
    assert png_size(png) == (charts.WIDTH_PX, charts.HEIGHT_PX)
    svg = charts.bar_chart(t, title="Gezinnen per wijk", fmt="svg").decode()
    assert "<svg" in svg
    # Suppressed rows (oost, west) get no bar height, only the `<5` mark.
    assert charts.bars(t) == [("oost", 0.0, "<5"), ("west", 0.0, "<5"), ("zuid", 6.0, "6")]


def test_an_empty_table_still_gives_a_chart_of_the_right_size() -> None:
    empty = Table("families", "wijk", ("families",), (), Row("total", (0,)))
    assert png_size(charts.bar_chart(empty, title="leeg")) == (800, 450)


def test_the_jaarverslag_is_one_dutch_html_document_without_external_assets() -> None:
    model = model_of(e for _, e in standard_flow().events)
    html = jaarverslag.render(model, YEAR, today=date(YEAR + 1, 1, 5))
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="nl">' in html
    assert f"Jaarverslag {YEAR}" in html
    assert "Bereikte gezinnen" in html
    assert "Doorverwijzingen" in html
    assert html.count('src="data:image/png;base64,') == 3
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "&lt;5" in html  # suppressed cells, escaped
    assert "<td>6</td>" in html  # zuid's families
