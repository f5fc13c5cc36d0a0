"""The merged remap maps of a dual-fisheye frame: one remap, a feathered band at the seam.

Every output pixel is sampled from the lens that sees it best. Across a narrow band either
side of the seam (where the two lenses see equally well) both lenses are sampled and
feathered together, the weight running linearly across the band. The band is laid out as
rectangles of the output (per run of rows, the columns the band needs there), and the rest
of the output as the rectangles between them, so each output pixel is sampled once per
lens it needs and the blend writes straight into output slices.

Towards the poles an equirect row is longer than the circle of the sphere it stands for
(1 / cos(pitch) times): rows that would still sample more finely than the circles record
at half or a quarter of the output's width are sampled at that width (a :class:`Zone`)
and widened by linear interpolation, which costs a fraction of the remap it saves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stitching.fisheye.exposure import vignetting_gain
from stitching.fisheye.geometry import Geometry, lens_coords
from stitching.lens import projection_radius

# Rows per band while building maps: bounds the float temporaries for 8K outputs.
_BAND_PIXELS = 1 << 21
# The band is laid out as rectangles grown a block of rows at a time; a block joins the
# rectangle above it when their union is at most _RECT_SLACK px wider than the narrowest
# run of the rectangle.
_RECT_ROWS = 16
_RECT_SLACK = 8
# Column thinning factors tried for the rows near the poles, and the finest detail a lens
# records, as a multiple of its px per radian at the centre: an equidistant circle's
# tangential scale at 90 degrees off axis is pi / 2 times its radial one.
_THINNING = (4, 2)
_FINEST = math.pi / 2


@dataclass(frozen=True, slots=True)
class Feather:
    """A rectangle of a zone across the seam: the other lens's sample and the weights."""

    rows: slice
    cols: slice
    maps: tuple[np.ndarray, np.ndarray]  # fixed-point maps of the lens NOT sampled first
    weight: np.ndarray  # float32 (h, w): weight of the primary sample, 0.5..1
    rest: np.ndarray  # float32 (h, w): 1 - weight


@dataclass(frozen=True, slots=True)
class Zone:
    """A run of output rows sampled at ``width`` columns (rectangles relative to it)."""

    rows: slice  # rows of the output
    width: int  # the output's width, or a half or a quarter of it
    primary: tuple[np.ndarray, np.ndarray]  # fixed-point maps over the whole zone
    feathers: tuple[Feather, ...]
    plain: tuple[tuple[slice, slice], ...]  # (rows, cols) rectangles outside every feather


@dataclass(frozen=True, slots=True)
class MergedMaps:
    """Everything a render needs for one geometry and output width (see :func:`build_maps`)."""

    zones: tuple[Zone, ...]  # top to bottom, covering the output
    split: int  # column dividing lens 1's half (left) from lens 0's (right)
    uncovered: float  # fraction of output pixels neither lens sees
    vignetting: np.ndarray | None  # float32 (H, W): gain undoing the profile's vignetting


def build_maps(
    geometry: Geometry, out_width: int, feather: float, *, thin_poles: bool = True
) -> MergedMaps:
    """Merged maps; ``feather`` is the blend's width across the seam in radians.

    With ``thin_poles`` False the whole output is one zone at full width.
    """
    out_h = out_width // 2
    g0, g1 = geometry.lenses
    split = int(round((g0.centre[0] + g1.centre[0]) / 2.0))
    zones, uncovered = [], 0
    for rows, width in (
        _zones(geometry, out_width) if thin_poles else [(slice(0, out_h), out_width)]
    ):
        zone, missed = _zone(geometry, rows, out_width, width, feather)
        zones.append(zone)
        uncovered += missed * (out_width // width)
    vignetting = None
    if any(g.lens.has_vignetting for g in geometry.lenses):
        vignetting = vignetting_gain(geometry, split)
    return MergedMaps(
        zones=tuple(zones),
        split=split,
        uncovered=uncovered / float(out_h * out_width),
        vignetting=vignetting,
    )


def _zones(geometry: Geometry, out_width: int) -> list[tuple[slice, int]]:
    """(rows, width) runs covering the output, each at the fewest columns (of the width, a
    half, a quarter) at which all its rows still sample at least as finely as the circles
    record (see _FINEST)."""
    out_h = out_width // 2
    finest = _FINEST * centre_scale(geometry)
    pitch = (0.5 - (np.arange(out_h) + 0.5) / out_h) * math.pi
    # Output px per radian of arc along each row.
    along = out_width / (2.0 * math.pi) / np.maximum(np.cos(pitch), 1e-9)
    factor = np.ones(out_h, dtype=np.int64)
    for f in _THINNING:
        if out_width % (2 * f) == 0:
            factor = np.where((factor == 1) & (along / f >= finest), f, factor)
    runs, top = [], 0
    for row in range(1, out_h + 1):
        if row == out_h or factor[row] != factor[top]:
            runs.append((slice(top, row), out_width // int(factor[top])))
            top = row
    return runs


def centre_scale(geometry: Geometry) -> float:
    """Lens 0's px per radian at its circle's centre (its focal length in px)."""
    lens = geometry.lenses[0]
    return float(lens.radius / projection_radius(lens.lens.projection, lens.half_fov()))


def _zone(
    geometry: Geometry, rows: slice, out_width: int, width: int, feather: float
) -> tuple[Zone, int]:
    """The maps of output ``rows`` sampled at ``width`` columns, and how many of its
    samples neither lens sees."""
    g0, g1 = geometry.lenses
    out_h, zone_h = out_width // 2, rows.stop - rows.start
    map1 = np.empty((zone_h, width, 2), dtype=np.int16)
    map2 = np.empty((zone_h, width), dtype=np.uint16)
    band = np.zeros((zone_h, width), dtype=bool)
    step = max(1, _BAND_PIXELS // width)
    uncovered = 0
    for top in range(0, zone_h, step):
        bottom = min(zone_h, top + step)
        block = slice(rows.start + top, rows.start + bottom)
        x, y, z = _equirect_directions(block, slice(0, width), width, out_h)
        c0, r0, m0 = lens_coords(g0, x, y, z)
        c1, r1, m1 = lens_coords(g1, x, y, z)
        use0 = m0 >= m1
        uncovered += int(((m0 <= 0) & (m1 <= 0)).sum())
        map1[top:bottom], map2[top:bottom] = cv2.convertMaps(
            np.where(use0, c0, c1), np.where(use0, r0, r1), cv2.CV_16SC2
        )
        w0 = _weight0(m0, m1, feather)
        band[top:bottom] = (w0 > 0.002) & (w0 < 0.998)
    feathers = []
    for top, bottom, left, right in _rects(band):
        rows_, cols_ = slice(top, bottom), slice(left, right)
        block = slice(rows.start + top, rows.start + bottom)
        x, y, z = _equirect_directions(block, cols_, width, out_h)
        c0, r0, m0 = lens_coords(g0, x, y, z)
        c1, r1, m1 = lens_coords(g1, x, y, z)
        use0 = m0 >= m1
        w0 = _weight0(m0, m1, feather)
        weight = np.where(use0, w0, 1.0 - w0).astype(np.float32)
        maps = cv2.convertMaps(np.where(use0, c1, c0), np.where(use0, r1, r0), cv2.CV_16SC2)
        feathers.append(Feather(rows_, cols_, (maps[0], maps[1]), weight, 1.0 - weight))
    plain = _between([(f.rows, f.cols) for f in feathers], zone_h, width)
    zone = Zone(rows, width, (map1, map2), tuple(feathers), tuple(plain))
    return zone, uncovered


def _equirect_directions(
    rows: slice, cols: slice, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 direction components of a block of an equirect of ``height`` rows sampled
    at ``width`` columns."""
    yaw = ((np.arange(cols.start, cols.stop) + 0.5) / width - 0.5) * (2.0 * math.pi)
    pitch = (0.5 - (np.arange(rows.start, rows.stop) + 0.5) / height) * math.pi
    sin_y, cos_y = np.sin(yaw).astype(np.float32), np.cos(yaw).astype(np.float32)
    cp = np.cos(pitch).astype(np.float32)[:, None]
    sp = np.sin(pitch).astype(np.float32)[:, None]
    return cp * sin_y[None, :], np.broadcast_to(sp, (len(pitch), len(yaw))), cp * cos_y[None, :]


def _weight0(m0: np.ndarray, m1: np.ndarray, feather: float) -> np.ndarray:
    """Weight of lens 0 from both rim margins: 0.5 on the seam (m0 = m1), running linearly
    to 0 and 1 over ``feather`` radians across it (over the whole overlap, if narrower).

    m0 - m1 grows twice as fast as the distance from the seam, and m0 + m1 is the
    overlap's width there.
    """
    span = np.maximum(np.minimum(m0 + m1, np.float32(feather)), np.float32(1e-9))
    w0 = np.clip(0.5 + (m0 - m1) / (2.0 * span), 0.0, 1.0)
    return np.where(m1 <= 0, np.float32(1.0), np.where(m0 <= 0, np.float32(0.0), w0))


def _rects(band: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Disjoint rectangles (top, bottom, left, right) covering the True pixels of ``band``.

    Grown _RECT_ROWS rows at a time: each run of True columns in a block either extends
    the rectangle above it (when the union is at most _RECT_SLACK px wider than the
    narrowest run the rectangle has held, and overlaps no other run of the block) or starts
    a new one. Measuring against the narrowest run keeps a tall rectangle from creeping
    wider block by block where the band widens towards the poles.
    """
    h = band.shape[0]
    rects: list[list[int]] = []  # top, bottom, left, right, narrowest run
    for top in range(0, h, _RECT_ROWS):
        bottom = min(h, top + _RECT_ROWS)
        cols = np.concatenate([[False], band[top:bottom].any(axis=0), [False]])
        edges = np.flatnonzero(cols[1:] != cols[:-1])
        runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        placed: list[tuple[int, int]] = []
        for left, right in runs:
            grown = None
            for rect in rects:
                if rect[1] != top or left >= rect[3] or right <= rect[2]:
                    continue
                lo, hi = min(left, rect[2]), max(right, rect[3])
                narrowest = min(right - left, rect[4])
                others = [r for r in runs if r != (left, right)] + placed
                if hi - lo <= narrowest + _RECT_SLACK and all(
                    b <= lo or a >= hi for a, b in others
                ):
                    rect[1:] = [bottom, lo, hi, narrowest]
                    grown = (lo, hi)
                    break
            if grown is None:
                rects.append([top, bottom, left, right, right - left])
                grown = (left, right)
            placed.append(grown)
    return [(r[0], r[1], r[2], r[3]) for r in rects]


def _between(
    taken: list[tuple[slice, slice]], height: int, width: int
) -> list[tuple[slice, slice]]:
    """Disjoint (rows, cols) rectangles covering a height x width output outside ``taken``
    (disjoint rectangles): per run of rows that the same rectangles cross, the column runs
    between them, a run continuing the rectangle above it when its columns are the same."""
    cuts = sorted({0, height} | {s.start for s, _ in taken} | {s.stop for s, _ in taken})
    done: list[list[int]] = []  # top, bottom, left, right
    open_: dict[tuple[int, int], list[int]] = {}
    for top, bottom in zip(cuts[:-1], cuts[1:], strict=True):
        spans = sorted((c.start, c.stop) for r, c in taken if r.start <= top and r.stop >= bottom)
        free, x = [], 0
        for left, right in spans:
            if left > x:
                free.append((x, left))
            x = max(x, right)
        if x < width:
            free.append((x, width))
        now: dict[tuple[int, int], list[int]] = {}
        for span in free:
            rect = open_.get(span)
            if rect is None:
                rect = [top, bottom, span[0], span[1]]
                done.append(rect)
            rect[1] = bottom
            now[span] = rect
        open_ = now
    return [(slice(r[0], r[1]), slice(r[2], r[3])) for r in done]
