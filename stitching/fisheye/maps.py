"""The merged remap maps of a dual-fisheye frame: one remap, a feathered band at the seam.

Every output pixel is sampled from the lens that sees it best. Across a narrow band either
side of the seam (where the two lenses see equally well) the other lens is sampled a
second time and feathered in, the weight running linearly across the band. The band is
laid out as rectangles of the output (per run of rows, the columns the band needs there),
so the blend writes straight into output slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stitching.fisheye.exposure import vignetting_gain
from stitching.fisheye.geometry import Geometry, lens_coords

# Rows per band while building maps: bounds the float temporaries for 8K outputs.
_BAND_PIXELS = 1 << 21
# The band is laid out as rectangles grown a block of rows at a time; a block joins the
# rectangle above it when their union is at most _RECT_SLACK px wider than either.
_RECT_ROWS = 16
_RECT_SLACK = 16


@dataclass(frozen=True, slots=True)
class Feather:
    """A rectangle of the output across the seam: the other lens's sample and the weights."""

    rows: slice
    cols: slice
    maps: tuple[np.ndarray, np.ndarray]  # fixed-point maps of the lens NOT sampled first
    weight: np.ndarray  # float32 (h, w): weight of the primary sample, 0.5..1
    rest: np.ndarray  # float32 (h, w): 1 - weight


@dataclass(frozen=True, slots=True)
class MergedMaps:
    """Everything a render needs for one geometry and output width (see :func:`build_maps`)."""

    primary: tuple[np.ndarray, np.ndarray]  # fixed-point maps over the whole output
    feathers: tuple[Feather, ...]
    split: int  # column dividing lens 1's half (left) from lens 0's (right)
    uncovered: float  # fraction of output pixels neither lens sees
    vignetting: np.ndarray | None  # float32 (H, W): gain undoing the profile's vignetting


def build_maps(geometry: Geometry, out_width: int, feather: float) -> MergedMaps:
    """Merged maps; ``feather`` is the blend's width across the seam in radians."""
    out_h = out_width // 2
    g0, g1 = geometry.lenses
    split = int(round((g0.centre[0] + g1.centre[0]) / 2.0))
    map1 = np.empty((out_h, out_width, 2), dtype=np.int16)
    map2 = np.empty((out_h, out_width), dtype=np.uint16)
    band = np.zeros((out_h, out_width), dtype=bool)
    rows = max(1, _BAND_PIXELS // out_width)
    uncovered = 0
    for top in range(0, out_h, rows):
        bottom = min(out_h, top + rows)
        x, y, z = _equirect_directions(slice(top, bottom), slice(0, out_width), out_width)
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
        x, y, z = _equirect_directions(rows_, cols_, out_width)
        c0, r0, m0 = lens_coords(g0, x, y, z)
        c1, r1, m1 = lens_coords(g1, x, y, z)
        use0 = m0 >= m1
        w0 = _weight0(m0, m1, feather)
        weight = np.where(use0, w0, 1.0 - w0).astype(np.float32)
        maps = cv2.convertMaps(np.where(use0, c1, c0), np.where(use0, r1, r0), cv2.CV_16SC2)
        feathers.append(Feather(rows_, cols_, (maps[0], maps[1]), weight, 1.0 - weight))
    vignetting = None
    if any(g.lens.has_vignetting for g in geometry.lenses):
        vignetting = vignetting_gain(geometry, split)
    return MergedMaps(
        primary=(map1, map2),
        feathers=tuple(feathers),
        split=split,
        uncovered=uncovered / float(out_h * out_width),
        vignetting=vignetting,
    )


def _equirect_directions(
    rows: slice, cols: slice, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 direction components of a block of a ``width`` x ``width // 2`` equirect."""
    height = width // 2
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
    the rectangle above it (when the union is at most _RECT_SLACK px wider than either and
    overlaps no other run of the block) or starts a new one.
    """
    h = band.shape[0]
    rects: list[list[int]] = []
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
                others = [r for r in runs if r != (left, right)] + placed
                if hi - lo <= min(right - left, rect[3] - rect[2]) + _RECT_SLACK and all(
                    b <= lo or a >= hi for a, b in others
                ):
                    rect[1], rect[2], rect[3] = bottom, lo, hi
                    grown = (lo, hi)
                    break
            if grown is None:
                rects.append([top, bottom, left, right])
                grown = (left, right)
            placed.append(grown)
    return [(r[0], r[1], r[2], r[3]) for r in rects]
