"""Small-cell suppression with complementary suppression over row and column totals (pure).

A table is a grid of entries, each a value (what the cell shows) and the number of distinct
families behind it. Entries from 1 to 4 families are suppressed (primary). Then every additive
line (a row with its row total, a column with its column total) that hides exactly one entry
would let a reader recompute it by subtraction, so one more entry of that line is suppressed:
the smallest non-zero cell (a total only when no cell is left). This repeats until stable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

THRESHOLD = 5
"""Cells counting fewer families than this (and more than none) are suppressed."""
SUPPRESSED = "<5"

type Pos = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Entry:
    """One cell's true value and how many distinct families it counts."""

    value: int
    families: int


@dataclass(frozen=True, slots=True)
class Grid:
    """Cells (rows x columns), their row and column totals and the grand total.

    `row_totals` is None when rows have no total (a one-column table, or columns of different
    units); `column_totals` is None when columns have none.
    """

    cells: Sequence[Sequence[Entry]]
    row_totals: Sequence[Entry] | None
    column_totals: Sequence[Entry] | None
    grand_total: Entry | None


def _lines(grid: Grid) -> Iterator[list[Pos]]:
    """Each additive relation as the positions it involves; -1 marks a total's position."""
    n_rows = len(grid.cells)
    n_cols = len(grid.cells[0]) if n_rows else 0
    if grid.row_totals is not None:
        for r in range(n_rows):
            yield [(r, c) for c in range(n_cols)] + [(r, -1)]
        if grid.column_totals is not None and grid.grand_total is not None:
            yield [(-1, c) for c in range(n_cols)] + [(-1, -1)]
    if grid.column_totals is not None:
        for c in range(n_cols):
            yield [(r, c) for r in range(n_rows)] + [(-1, c)]
        if grid.row_totals is not None and grid.grand_total is not None:
            yield [(r, -1) for r in range(n_rows)] + [(-1, -1)]


def entry_at(grid: Grid, pos: Pos) -> Entry | None:
    """The entry at a position (-1 for totals), or None when the table has no such total."""
    r, c = pos
    if r >= 0 and c >= 0:
        return grid.cells[r][c]
    if r >= 0:
        return None if grid.row_totals is None else grid.row_totals[r]
    if c >= 0:
        return None if grid.column_totals is None else grid.column_totals[c]
    return grid.grand_total


def _primary(entry: Entry) -> bool:
    return 0 < entry.families < THRESHOLD


def suppress(grid: Grid) -> set[Pos]:
    """The positions to hide: primary small cells plus complements, until no line hides one."""
    hidden: set[Pos] = set()
    positions = [(r, c) for r in range(len(grid.cells)) for c in range(len(grid.cells[r]))]
    positions += [(r, -1) for r in range(len(grid.cells))]
    positions += [(-1, c) for c in range(len(grid.cells[0]) if grid.cells else 0)] + [(-1, -1)]
    for pos in positions:
        entry = entry_at(grid, pos)
        if entry is not None and _primary(entry):
            hidden.add(pos)
    lines = [line for line in _lines(grid) if all(entry_at(grid, p) is not None for p in line)]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(pos in hidden for pos in line) != 1:
                continue
            candidates = [pos for pos in line if pos not in hidden]
            if candidates:
                hidden.add(min(candidates, key=lambda pos: _complement_rank(grid, pos)))
                changed = True
    return hidden


def _complement_rank(grid: Grid, pos: Pos) -> tuple[bool, bool, int, Pos]:
    """Prefer cells over totals, non-zero over zero, then the smallest value, then position."""
    entry = entry_at(grid, pos)
    value = 0 if entry is None else entry.value
    is_total = pos[0] < 0 or pos[1] < 0
    return (is_total, value == 0, value, pos)


def recoverable(grid: Grid, hidden: set[Pos]) -> list[Pos]:
    """Hidden positions a reader could recompute by subtraction from one line (for tests)."""
    found: list[Pos] = []
    for line in _lines(grid):
        in_line = [pos for pos in line if pos in hidden]
        if len(in_line) == 1:
            found.append(in_line[0])
    return found
