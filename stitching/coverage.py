"""How much of the sphere an equirect covers with real pixels, and where.

Stitchers and :func:`stitching.equirect.place_cropped` leave the parts of the sphere no
frame saw black (exactly 0, or a camera's own black nadir, a few levels above after JPEG).
:func:`valid_cells` reduces an equirect to a coarse grid of cells (0.5 deg at the default
720 x 360) whose mean is brighter than :data:`EMPTY_LEVEL` in some channel. Real scenes
have black too (a JPEG crushes a dark kettle or a shadow to 0), but what no frame saw
reaches a pole: the caps above and below a row of frames, the sides of a sweep, the
outside of a GPano crop. So a dark patch that touches neither pole counts as covered
(a hole inside, such as a frame missing in the middle of a set, is reported by the
stitcher, not here), and one that does is not (a black tripod at the nadir is then a
hole, which a viewer need not show). :func:`measure_coverage` gives the solid-angle
fraction and the extents a viewer may show (:class:`CoverageEstimate`); :func:`coverage`
does both, in the levelled frame when a levelling rotation is given (conventions of
:mod:`stitching.sphere`).

The extents are the largest yaw/pitch rectangle, shrunk from the outer extents of the
valid cells one border line at a time (the emptiest first), whose border lines are fully
covered: a viewer limited to it shows no black at its edges, while a hole inside (a frame
the stitcher could not place, in the middle of a set) stays inside and is reported only
by the fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stitching.sphere import as_rotation

#: Grid of the coverage cells (columns, rows): 0.5 deg per cell.
GRID: tuple[int, int] = (720, 360)
#: A cell whose mean stays at or below this in every channel is empty (JPEG noise on
#: black is 1-3 levels; a real dark patch this dark is filled unless it reaches a pole).
EMPTY_LEVEL = 4
#: A cell at least this much covered is whole (the extents are made of whole cells).
WHOLE_CELL = 0.99
#: At or above this fraction the sphere counts as whole: a black speck at a pole (1.8 deg
#: cap) is not "partial".
FULL_FRACTION = 0.999


@dataclass(frozen=True, slots=True)
class CoverageEstimate:
    """Covered solid-angle fraction and the yaw/pitch rectangle a viewer may show.

    Degrees, yaw + right with 0 at the panorama's centre, pitch + up. ``yaw_min_deg`` is
    in [-180, 180); ``yaw_max_deg`` = yaw_min + the covered arc, so it may exceed 180 when
    the arc crosses the back of the sphere. ``full`` is True when the fraction reaches
    :data:`FULL_FRACTION` (then the extents are the whole sphere).
    """

    fraction: float
    yaw_min_deg: float = -180.0
    yaw_max_deg: float = 180.0
    pitch_min_deg: float = -90.0
    pitch_max_deg: float = 90.0
    full: bool = True


def coverage(
    equirect: np.ndarray, rotation: np.ndarray | None = None, *, grid: tuple[int, int] = GRID
) -> CoverageEstimate:
    """Coverage of an equirect, in the levelled frame when ``rotation`` is given.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) or (H, W) full-sphere equirect, black where nothing was seen.
    rotation:
        3x3 matrix taking a levelled direction to the direction in ``equirect`` (as for
        the cube remap); None = the equirect's own frame.
    grid:
        Cells (columns, rows).
    """
    cells = valid_cells(equirect, grid=grid)
    if rotation is not None:
        cells = rotate_cells(cells, rotation)
    return measure_coverage(cells)


def valid_cells(equirect: np.ndarray, *, grid: tuple[int, int] = GRID) -> np.ndarray:
    """float32 (rows, cols) grid: the covered share of each cell, 0..1 (module docstring).

    The equirect is first shrunk by a whole factor (blocks of k x k px); a block is
    covered when its mean exceeds :data:`EMPTY_LEVEL` in some channel, and a cell's value
    is the share of its blocks that are, with dark patches that reach no pole filled.

    Raises
    ------
    ValueError
        Not an (H, W) or (H, W, C) uint8 image.
    """
    if equirect.dtype != np.uint8 or equirect.ndim not in (2, 3) or equirect.size == 0:
        raise ValueError(f"expected a uint8 equirect, got {equirect.dtype} {equirect.shape}")
    h, w = equirect.shape[:2]
    cols, rows = min(grid[0], w), min(grid[1], h)
    small = equirect
    # A whole-factor shrink first: cv2's INTER_AREA is several times faster at one.
    for k in range(w // cols, 1, -1):
        if w % k == 0 and h % k == 0:
            small = cv2.resize(equirect, (w // k, h // k), interpolation=cv2.INTER_AREA)
            break
    brightest = small.max(axis=2) if small.ndim == 3 else small
    covered = (brightest > EMPTY_LEVEL).astype(np.float32)
    cells = cv2.resize(covered, (cols, rows), interpolation=cv2.INTER_AREA)
    return _fill_inner_holes(np.clip(cells, 0.0, 1.0))


def rotate_cells(cells: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The cell grid seen from the levelled frame: cell d takes the value of cell ``R @ d``."""
    r = as_rotation(rotation)
    if r is None:
        return cells
    rows, cols = cells.shape
    yaw = ((np.arange(cols) + 0.5) / cols - 0.5) * 2.0 * math.pi
    pitch = (0.5 - (np.arange(rows) + 0.5) / rows) * math.pi
    cp, sp = np.cos(pitch)[:, None], np.sin(pitch)[:, None]
    d = np.stack([cp * np.sin(yaw), np.broadcast_to(sp, (rows, cols)), cp * np.cos(yaw)], -1)
    src = d @ r.T
    src_yaw = np.arctan2(src[..., 0], src[..., 2])
    src_pitch = np.arctan2(src[..., 1], np.hypot(src[..., 0], src[..., 2]))
    c = np.clip(((src_yaw / (2.0 * math.pi) + 0.5) * cols).astype(int), 0, cols - 1)
    j = np.clip(((0.5 - src_pitch / math.pi) * rows).astype(int), 0, rows - 1)
    return cells[j, c]


def measure_coverage(share: np.ndarray) -> CoverageEstimate:
    """Fraction and viewer extents of a cell grid from :func:`valid_cells`.

    The extents use only whole cells (covered share >= :data:`WHOLE_CELL`), so a viewer
    limited to them does not show the black of a cell the valid pixels only touch.
    """
    rows, cols = share.shape
    weights = _row_weights(rows)
    fraction = float((share * weights[:, None]).sum() / (weights.sum() * cols))
    if fraction >= FULL_FRACTION:
        return CoverageEstimate(fraction=round(min(1.0, fraction), 4))
    cells = share >= WHOLE_CELL
    if not cells.any():
        return CoverageEstimate(0.0, 0.0, 0.0, 0.0, 0.0, full=False)
    start, width = _yaw_arc(np.asarray(cells.any(axis=0)))
    arc = np.roll(cells, -start, axis=1)[:, :width]
    used = np.flatnonzero(arc.any(axis=1))
    top, bottom, left, right = _shrink(arc, int(used[0]), int(used[-1]) + 1, width < cols)
    if top >= bottom or left >= right:  # nothing fully covered at its edges: outer extents
        top, bottom, left, right = int(used[0]), int(used[-1]) + 1, 0, width
    yaw_min = -180.0 + (start + left) * 360.0 / cols
    yaw_min = (yaw_min + 180.0) % 360.0 - 180.0
    return CoverageEstimate(
        fraction=round(fraction, 4),
        yaw_min_deg=round(yaw_min, 2),
        yaw_max_deg=round(yaw_min + (right - left) * 360.0 / cols, 2),
        pitch_min_deg=round(90.0 - bottom * 180.0 / rows, 2),
        pitch_max_deg=round(90.0 - top * 180.0 / rows, 2),
        full=False,
    )


def _row_weights(rows: int) -> np.ndarray:
    """Solid angle of one cell per row (up to a constant): sin(top) - sin(bottom)."""
    edges = np.sin((0.5 - np.arange(rows + 1) / rows) * math.pi)
    return edges[:-1] - edges[1:]


def _fill_inner_holes(share: np.ndarray) -> np.ndarray:
    """``share`` with every mostly empty patch that touches no pole filled (see module doc)."""
    empty = (share < 0.5).astype(np.uint8)
    if not empty.any():
        return share
    count, labels = cv2.connectedComponents(empty, connectivity=8)
    polar = np.zeros(count, dtype=bool)
    polar[labels[0]] = True
    polar[labels[-1]] = True
    inner = ~polar
    inner[0] = False  # label 0: the covered cells
    out = share.copy()
    out[inner[labels]] = 1.0
    return out


def _yaw_arc(columns: np.ndarray) -> tuple[int, int]:
    """(first column, width) of the smallest circular arc holding every covered column."""
    n = len(columns)
    if columns.all():
        return 0, n
    # The longest circular run of empty columns is what the arc leaves out.
    doubled = np.concatenate([columns, columns])
    best_len, best_end, run = 0, 0, 0
    for i, covered in enumerate(doubled):
        run = 0 if covered else run + 1
        if run > best_len:
            best_len, best_end = run, i
    best_len = min(best_len, n)
    start = (best_end + 1) % n
    return start, n - best_len


def _shrink(arc: np.ndarray, top: int, bottom: int, sides: bool) -> tuple[int, int, int, int]:
    """Drop the emptiest border line of the rectangle until every border line is covered.

    ``sides``: the arc is less than the whole circle, so its left and right columns are
    borders too (a full circle has none).
    """
    left, right = 0, arc.shape[1]
    while top < bottom and left < right:
        block = arc[top:bottom, left:right]
        lines = {"top": block[0].mean(), "bottom": block[-1].mean()}
        if sides:
            lines |= {"left": block[:, 0].mean(), "right": block[:, -1].mean()}
        worst = min(lines, key=lambda k: lines[k])
        if lines[worst] >= 1.0:
            break
        if worst == "top":
            top += 1
        elif worst == "bottom":
            bottom -= 1
        elif worst == "left":
            left += 1
        else:
            right -= 1
    return top, bottom, left, right
