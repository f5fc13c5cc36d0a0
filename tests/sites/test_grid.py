"""The floor map grid: letters across, numbers down, right at the edges and corners."""

from __future__ import annotations

import pytest

from workers.sites.grid import Grid, cell_sort_key, column_label


def test_column_labels_run_like_a_spreadsheet() -> None:
    assert [column_label(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA",
    ]  # fmt: skip


def test_cells_at_the_edges_and_corners_of_the_plan() -> None:
    # 1200x800 px at 20 px/m, 10 m cells = 200 px: 6 columns A-F, 4 rows 1-4.
    grid = Grid.for_floor(1200, 800, 20.0, 10.0)
    assert (grid.columns, grid.rows) == (6, 4)
    assert grid.cell(0, 0) == "A1"
    assert grid.cell(1200, 0) == "F1"
    assert grid.cell(0, 800) == "A4"
    assert grid.cell(1200, 800) == "F4"
    assert grid.cell(199.999, 199.999) == "A1"
    assert grid.cell(200, 200) == "B2"
    assert grid.cell(1199.5, 400) == "F3"
    assert grid.cell(-0.1, 10) is None and grid.cell(10, 800.1) is None
    assert grid.column_edges() == [0, 200, 400, 600, 800, 1000, 1200]


def test_a_plan_not_a_whole_number_of_cells_ends_with_a_cut_cell() -> None:
    grid = Grid.for_floor(1250, 810, 20.0, 10.0)
    assert (grid.columns, grid.rows) == (7, 5)
    assert grid.cell(1250, 810) == "G5"
    assert grid.cell(1201, 801) == "G5"
    assert grid.column_edges()[-1] == 1250 and grid.row_edges()[-1] == 810
    assert grid.record().column_labels == list("ABCDEFG")
    with pytest.raises(ValueError):
        Grid.for_floor(100, 100, 20.0, 0.0)


def test_cells_sort_by_column_then_row() -> None:
    cells = ["B1", "A10", "AA1", "A2", None, "Z3"]
    assert sorted(cells, key=cell_sort_key) == ["A2", "A10", "B1", "Z3", "AA1", None]
