"""Bar charts of report tables (matplotlib, Agg, no display), respecting suppression.

matplotlib (with numpy, ~50 MiB resident) is imported on the first chart, not at start-up: most
reporting processes never draw one. Opening the reports starts the import in the background
(`warm_up`), so the first charts do not pay for it (seconds on a loaded machine).
"""

from __future__ import annotations

import io
import threading
from typing import Final, Literal

from alamal_reporting.domain.suppression import SUPPRESSED
from alamal_reporting.domain.tables import Table

WIDTH_PX: Final = 800
HEIGHT_PX: Final = 450
_DPI: Final = 100

type ChartFormat = Literal["png", "svg"]

_warming = threading.Lock()
_warmed = False


def _import_matplotlib() -> None:
    from matplotlib import figure
    from matplotlib.backends import backend_agg  # loaded here, see above

    del backend_agg, figure


def warm_up() -> None:
    """Import matplotlib in a background thread, once; charts are likely to follow."""
    global _warmed
    with _warming:
        if _warmed:
            return
        _warmed = True
    threading.Thread(target=_import_matplotlib, name="charts-warm-up", daemon=True).start()


def bars(table: Table) -> list[tuple[str, float, str]]:
    """(label, bar height, annotation) per row: a suppressed row has no bar, only `<5`."""
    found = []
    for row in table.rows:
        value = row.cells[0]
        if isinstance(value, int | float):
            found.append((row.label, float(value), str(value)))
        else:
            found.append((row.label, 0.0, SUPPRESSED))
    return found


def bar_chart(table: Table, *, title: str, fmt: ChartFormat = "png") -> bytes:
    """The table's first column as bars; a suppressed bar is left out and marked `<5`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # loaded here, see above
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawn = bars(table)
    labels = [label for label, _, _ in drawn]
    rects = axes.bar(range(len(drawn)), [height for _, height, _ in drawn], color="#2f6f8f")
    for bar, (_, _, text) in zip(rects, drawn, strict=True):
        axes.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(table.columns[0])
    axes.set_title(title)
    if not labels:
        axes.text(0.5, 0.5, "geen gegevens", ha="center", va="center", transform=axes.transAxes)
    figure.subplots_adjust(bottom=0.25)
    out = io.BytesIO()
    figure.savefig(out, format=fmt, dpi=_DPI)
    return out.getvalue()
