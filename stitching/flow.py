"""Local misalignment of two renderings of one view: dense optical flow, summarised per tile.

The seam fit of :mod:`stitching.fisheye` measures how far lens 1's rendering of the seam
sits from lens 0's with :func:`tile_shifts`; the test harness scores stitches with it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: A tile shift is trusted when at least this fraction of its pixels is textured.
MIN_RESPONSE = 0.05


@dataclass(frozen=True, slots=True)
class TileShifts:
    """Per-tile shifts of image ``b`` relative to ``a`` (px; b's content sits at a + shift)."""

    centres: np.ndarray  # float64 (n, 2): tile centre (x, y) px
    shifts: np.ndarray  # float64 (n, 2): (dx, dy) px
    response: np.ndarray  # float64 (n,): fraction of the tile valid and textured, 0..1

    def trusted(self, min_response: float = MIN_RESPONSE) -> TileShifts:
        """The tiles whose ``response`` is at least ``min_response``."""
        keep = self.response >= min_response
        return TileShifts(self.centres[keep], self.shifts[keep], self.response[keep])

    def median_shift(self) -> float:
        """Median length of the shifts in px; NaN with no tiles."""
        if len(self.shifts) == 0:
            return math.nan
        return float(np.median(np.hypot(self.shifts[:, 0], self.shifts[:, 1])))


def tile_shifts(
    a: np.ndarray, b: np.ndarray, tile: int, valid: np.ndarray | None = None
) -> TileShifts:
    """Local shifts of ``b`` against ``a``, one per ``tile`` x ``tile`` tile.

    Dense optical flow (OpenCV's DIS) is computed once; each tile reports the median flow
    over its textured pixels. Unlike phase correlation of small tiles, this is not biased
    towards zero for sub-tile shifts.

    Parameters
    ----------
    a, b:
        uint8 (h, w[, 3]) images of the same view.
    tile:
        Tile side in px; tiles are laid edge to edge from the top-left corner.
    valid:
        Optional bool (h, w): only valid pixels count; a tile needs half of them valid.

    Returns
    -------
    TileShifts
        One entry per tile with any texture; ``response`` is the fraction of the tile's
        pixels that are valid and textured (see :meth:`TileShifts.trusted`).
    """
    ga, gb = _gray_u8(a), _gray_u8(b)
    h, w = ga.shape
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(ga, gb, None)  # type: ignore[call-overload]
    gx = cv2.Sobel(ga, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(ga, cv2.CV_32F, 0, 1, ksize=3)
    textured = np.hypot(gx, gy) > 24.0
    if valid is not None:
        inner = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        textured &= inner
    centres, shifts, responses = [], [], []
    for top in range(0, h - tile + 1, tile):
        for left in range(0, w - tile + 1, tile):
            if valid is not None and valid[top : top + tile, left : left + tile].mean() < 0.5:
                continue
            use = textured[top : top + tile, left : left + tile]
            n = int(use.sum())
            if n < 8:
                continue
            f = flow[top : top + tile, left : left + tile][use]
            centres.append((left + tile / 2, top + tile / 2))
            shifts.append(np.median(f, axis=0))
            responses.append(n / float(tile * tile))
    return TileShifts(
        np.array(centres, dtype=np.float64).reshape(-1, 2),
        np.array(shifts, dtype=np.float64).reshape(-1, 2),
        np.array(responses, dtype=np.float64),
    )


def _gray_u8(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(img, dtype=np.uint8)
