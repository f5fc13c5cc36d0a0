"""A floor's map grid in the "Collaborative Response Graphics" style: letters across, numbers down.

Cell ``A1`` is the top-left of the plan image; columns are lettered left to right (A..Z,
AA, AB, ...), rows numbered top to bottom from 1. Cells are squares ``cell_m`` metres on the
floor (``Floor.grid_m``, default 10 m), i.e. ``cell_m * scale_px_per_m`` plan pixels, aligned
with the plan's axes; the last column and row are cut by the plan's right and bottom edges.
A point exactly on the right or bottom edge belongs to the last cell; off the plan it has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workers.contract.tour import FloorGrid


def column_label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, 27 -> AB (spreadsheet style)."""
    if index < 0:
        raise ValueError(f"grid column {index} is negative")
    label = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


@dataclass(frozen=True, slots=True)
class Grid:
    """The grid of one plan: ``width`` x ``height`` plan pixels, cells ``cell_px`` wide."""

    width: int
    height: int
    cell_px: float
    cell_m: float

    @classmethod
    def for_floor(cls, width: int, height: int, scale_px_per_m: float, cell_m: float) -> Grid:
        if cell_m <= 0 or scale_px_per_m <= 0:
            raise ValueError(f"grid cell {cell_m} m at {scale_px_per_m} px/m is not positive")
        return cls(width, height, cell_m * scale_px_per_m, cell_m)

    @property
    def columns(self) -> int:
        return max(1, math.ceil(self.width / self.cell_px - 1e-9))

    @property
    def rows(self) -> int:
        return max(1, math.ceil(self.height / self.cell_px - 1e-9))

    def cell(self, x: float | None, y: float | None) -> str | None:
        """The label of the cell holding plan pixel (x, y), e.g. ``"C4"``; None off the plan."""
        if x is None or y is None or not (0 <= x <= self.width and 0 <= y <= self.height):
            return None
        col = min(int(x // self.cell_px), self.columns - 1)
        row = min(int(y // self.cell_px), self.rows - 1)
        return f"{column_label(col)}{row + 1}"

    def column_edges(self) -> list[float]:
        """Plan x of every vertical grid line, 0 to width."""
        return [min(i * self.cell_px, self.width) for i in range(self.columns + 1)]

    def row_edges(self) -> list[float]:
        """Plan y of every horizontal grid line, 0 to height."""
        return [min(i * self.cell_px, self.height) for i in range(self.rows + 1)]

    def record(self) -> FloorGrid:
        """What tour.json carries of the grid."""
        return FloorGrid(
            cell_m=self.cell_m,
            cell_px=self.cell_px,
            columns=self.columns,
            rows=self.rows,
            column_labels=[column_label(i) for i in range(self.columns)],
        )


def grid_of(record: FloorGrid, width: int, height: int) -> Grid:
    """The grid a tour floor's record describes."""
    return Grid(width, height, record.cell_px, record.cell_m)


def cell_sort_key(label: str | None) -> tuple[int, str, int]:
    """Sort key putting cells in reading order by column then row: A1, A2, ..., B1; None last."""
    if not label:
        return (1, "", 0)
    letters = label.rstrip("0123456789")
    digits = label[len(letters) :]
    return (0, f"{len(letters):02d}{letters}", int(digits) if digits else 0)
