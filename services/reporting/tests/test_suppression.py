"""Small-cell and complementary suppression on crafted tables (unit)."""

from __future__ import annotations

import random

from alamal_reporting.domain.suppression import Entry, Grid, Pos, entry_at, recoverable, suppress


def grid_of(values: list[list[int]]) -> Grid:
    """A table whose cells count families (value == families), with all totals."""
    cells = [[Entry(v, v) for v in row] for row in values]
    row_totals = [Entry(sum(row), sum(row)) for row in values]
    column_totals = [Entry(sum(col), sum(col)) for col in zip(*values, strict=True)]
    grand = sum(map(sum, values))
    return Grid(cells, row_totals, column_totals, Entry(grand, grand))


def test_a_lone_small_cell_gets_a_complement_in_its_row_and_column() -> None:
    grid = grid_of(
        [
            [3, 10, 20],
            [12, 15, 30],
            [40, 8, 9],
        ]
    )
    hidden = suppress(grid)
    assert (0, 0) in hidden
    # Row 0's next smallest is 10, column 0's is 12; then row 1 and column 1 need one more.
    assert {(0, 1), (1, 0), (1, 1)} <= hidden
    assert recoverable(grid, hidden) == []
    assert (-1, -1) not in hidden


def test_small_totals_are_suppressed_and_protected_too() -> None:
    grid = grid_of([[1, 0], [2, 0]])
    hidden = suppress(grid)
    # Every non-zero entry counts fewer than 5 families, including the grand total.
    assert {(0, 0), (1, 0), (0, -1), (1, -1), (-1, 0), (-1, -1)} <= hidden
    assert recoverable(grid, hidden) == []


def test_a_one_column_table_hides_the_next_smallest_row() -> None:
    cells = [[Entry(2, 2)], [Entry(7, 7)], [Entry(30, 30)]]
    grid = Grid(cells, None, [Entry(39, 39)], None)
    hidden = suppress(grid)
    assert hidden == {(0, 0), (1, 0)}
    assert recoverable(grid, hidden) == []


def test_no_suppression_when_every_cell_counts_five_or_more() -> None:
    grid = grid_of([[5, 6], [7, 8]])
    assert suppress(grid) == set()


def test_no_suppressed_value_can_be_recomputed_from_any_line_on_random_tables() -> None:
    rng = random.Random(2026)
    for _ in range(300):
        rows, cols = rng.randint(1, 6), rng.randint(1, 6)
        values = [
            [rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15, 40]) for _ in range(cols)] for _ in range(rows)
        ]
        grid = grid_of(values)
        hidden = suppress(grid)
        assert recoverable(grid, hidden) == [], values
        for r in range(rows):
            for c in range(cols):
                if 0 < values[r][c] < 5:
                    assert (r, c) in hidden
        small_totals: list[Pos] = [(r, -1) for r in range(rows) if 0 < sum(values[r]) < 5]
        assert all(pos in hidden for pos in small_totals)
        assert all(entry_at(grid, pos) is not None for pos in hidden)
