"""A report table: rows of counted entries, suppressed and rendered for output (pure)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from alamal_reporting.domain.suppression import SUPPRESSED, THRESHOLD, Entry, Grid, suppress

type Cell = int | float | str | None
"""A rendered cell: a count, a median, `"<5"` when suppressed, or None when not applicable."""


@dataclass(frozen=True, slots=True)
class Row:
    """One rendered row: its category label and its cells, in column order."""

    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A rendered, suppressed table; `total` is computed over the true values."""

    report: str
    breakdown: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    total: Row


@dataclass
class _Bucket:
    items: int = 0
    families: set[str] = field(default_factory=set)
    days: list[float] = field(default_factory=list)
    day_families: set[str] = field(default_factory=set)


class Tally:
    """Counts items and distinct families per category label (a family may be in several)."""

    def __init__(self) -> None:
        self._rows: dict[str, _Bucket] = defaultdict(_Bucket)
        self._total = _Bucket()
        self._items_seen: set[str] = set()

    def add(self, labels: Iterable[str], family_id: str, item_id: str) -> None:
        """Count one item (a visit, a referral, ...) of a family under each of its labels."""
        for label in labels:
            bucket = self._rows[label]
            bucket.items += 1
            bucket.families.add(family_id)
        if item_id not in self._items_seen:
            self._items_seen.add(item_id)
            self._total.items += 1
        self._total.families.add(family_id)

    def add_days(self, label: str, family_id: str, days: float) -> None:
        """Record a duration (in days) of a family's item under a label, for medians."""
        for bucket in (self._rows[label], self._total):
            bucket.days.append(days)
            bucket.day_families.add(family_id)

    def families_table(self, report: str, breakdown: str) -> Table:
        """One column: distinct families per label."""
        labels = sorted(self._rows)
        cells = [[_families(self._rows[label])] for label in labels]
        grid = Grid(cells, None, [_families(self._total)], None)
        return _render(report, breakdown, ("families",), labels, grid, [])

    def items_table(self, report: str, breakdown: str, item: str, *, median: bool = False) -> Table:
        """Two columns: items and distinct families per label (plus median days if asked)."""
        labels = sorted(self._rows)
        cells = [[_items(self._rows[label]), _families(self._rows[label])] for label in labels]
        grid = Grid(cells, None, [_items(self._total), _families(self._total)], None)
        medians = [self._rows[label] for label in labels] + [self._total] if median else []
        columns = (item, "families", *(("median_days_to_acceptance",) if median else ()))
        return _render(report, breakdown, columns, labels, grid, medians)


def _families(bucket: _Bucket) -> Entry:
    return Entry(value=len(bucket.families), families=len(bucket.families))


def _items(bucket: _Bucket) -> Entry:
    return Entry(value=bucket.items, families=len(bucket.families))


def _median(bucket: _Bucket) -> Cell:
    if not bucket.days:
        return None
    if len(bucket.day_families) < THRESHOLD:
        return SUPPRESSED
    return round(statistics.median(bucket.days), 1)


def _render(
    report: str,
    breakdown: str,
    columns: tuple[str, ...],
    labels: Sequence[str],
    grid: Grid,
    medians: Sequence[_Bucket],
) -> Table:
    hidden = suppress(grid)

    def show(pos: tuple[int, int], entry: Entry) -> Cell:
        return SUPPRESSED if pos in hidden else entry.value

    rows = []
    for r, label in enumerate(labels):
        cells: list[Cell] = [show((r, c), e) for c, e in enumerate(grid.cells[r])]
        if medians:
            # A median of a row whose counts are hidden would hint at them: hide it as well.
            cells.append(SUPPRESSED if (r, 0) in hidden else _median(medians[r]))
        rows.append(Row(label, tuple(cells)))
    totals = grid.column_totals or []
    total_cells: list[Cell] = [show((-1, c), e) for c, e in enumerate(totals)]
    if medians:
        total_cells.append(SUPPRESSED if (-1, 0) in hidden else _median(medians[-1]))
    return Table(report, breakdown, columns, tuple(rows), Row("total", tuple(total_cells)))
