"""Multi-band blending of the warped frames, one band of canvas rows at a time.

A 12 x 20 MP set makes a canvas of about 17000 x 8500 px. A whole-canvas Laplacian
pyramid of it would hold about 13 bytes a canvas pixel (1.9 GB), and warping every frame
whole adds its maps and pixels on top. Here the canvas is cut into bands of rows; each
band is blended on its own with a margin of rows above and below, wide enough that the
coarsest level sees the same neighbourhood as on the whole canvas, and only the band's
own rows are kept. Each frame is warped band by band too, so no full-size warped frame
exists. The band also reaches a margin of columns across yaw +-180 deg, so the left and
right edges of the equirect are blended as the neighbours they are.

The pyramids are this module's own (the construction of cv2.detail.MultiBandBlender, in
float32) so that their buffers live across bands and frames: cv2's blender allocates its
pyramids afresh for every band and every frame fed, blocks so large that the allocator
maps them from the kernel each time, and the kernel then spent a fifth of the stitch's
CPU zeroing pages (issue 16). Here the band's accumulators are allocated once and
cleared, and every frame's pyramid is built in scratch buffers that only grow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from stitching.multishot.scratch import Scratch, empty

#: Canvas pixels blended at once: a band has BAND_PIXELS // width rows. Its accumulators
#: hold 16 bytes a px over (rows + 2 margins) x (width + 2 margins), and 4/3 of that with
#: the coarser levels: about 280 MB on the 17048 px canvas of a 12 x 20 MP set (480 rows;
#: 1024 rows there took the stitch's peak from 1.87 to 2.19 GB).
BAND_PIXELS = 6_000_000
#: Margin rows either side of a band, in units of the coarsest level's pixel (2^bands):
#: the 5-tap pyramid kernels reach about 4 such pixels through the levels. With 4 the
#: lunchroom set differs from a whole-canvas blend by at most one grey level except for a
#: dozen pixels at the edge of coverage.
MARGIN_LEVEL_PX = 4
#: Context a frame's pyramid gets beyond its own box, in coarsest-level px (cv2 uses 3).
GAP_LEVEL_PX = 3
WEIGHT_EPS = 1e-5


@dataclass(frozen=True, slots=True)
class Layer:
    """One frame's piece of the canvas, ready to be warped band by band.

    ``box`` is the piece's canvas box (x, y, w, h) in px, outside which its mask is 0;
    ``render(sub_box, image, mask, scratch)`` resamples the frame into ``sub_box`` (any canvas box,
    columns may run past either edge of the canvas, round the wrap), writing the float32
    (h, w, 3) image with its exposure gain applied into ``image`` and the float32 (h, w)
    weight (1 where the frame is used after seam cutting, 0 outside it) into ``mask``,
    with ``scratch`` for its own temporaries.
    """

    box: tuple[int, int, int, int]
    render: Callable[[tuple[int, int, int, int], np.ndarray, np.ndarray, Scratch], None]


def blend_bands(
    layers: Sequence[Layer], width: int, bands: int, band_rows: int | None = None
) -> np.ndarray:
    """Multi-band blend ``layers`` into a uint8 (width // 2, width, 3) BGR canvas.

    Parameters
    ----------
    layers:
        The pieces to blend (see :class:`Layer`); rows no piece reaches stay black.
    width:
        Canvas width in px (even); the canvas is ``width // 2`` rows high.
    bands:
        Number of pyramid levels of the blender (its coarsest level is 2^bands px).
    band_rows:
        Canvas rows blended at once (rounded up to a multiple of 2^bands); default
        ``BAND_PIXELS // width``, but at least four margins.

    Returns
    -------
    np.ndarray
        uint8 (width // 2, width, 3) BGR, black where no piece reaches.
    """
    height = width // 2
    step = 1 << bands
    margin = MARGIN_LEVEL_PX * step
    # A band at least four margins high: the margins then cost at most half again the
    # band's own pyramid work (on a 20 MP set 512 rows, not the budget's 352).
    default = max(BAND_PIXELS // width, 4 * margin)
    rows = max(step, -(-(band_rows or default) // step) * step)
    # Not zeroed: rows no piece reaches are cleared alone, so the canvas is written once.
    out = empty((height, width, 3), np.uint8)
    top = min((la.box[1] for la in layers), default=height) // step * step
    bottom = max((la.box[1] + la.box[3] for la in layers), default=0)
    out[: min(top, height)] = 0
    out[max(top, bottom) :] = 0
    roi_w = -(-(width + 2 * margin) // step) * step
    roi_h = -(-(rows + 2 * margin) // step) * step
    pyramid = _BandPyramid(bands, roi_w, roi_h, step)
    # Bands start on a multiple of 2^bands, so every band's pyramid is aligned the same way.
    for b0 in range(top, bottom, rows):
        b1 = min(b0 + rows, height)
        r0 = b0 - margin  # may be negative: rows off the canvas stay empty
        r1 = min(height, b1 + margin)
        pyramid.clear()
        fed = False
        for layer in layers:
            x, y, w, h = layer.box
            if min(y + h, r1) <= max(y, r0, 0):
                continue
            # The canvas wraps: the band sees `margin` columns beyond either edge, filled
            # with what lies across the wrap, so both edges blend the same neighbourhood
            # and meet without a step.
            for shift in (0, -width, width):
                c0, c1 = max(x + shift, -margin), min(x + w + shift, width + margin)
                if c1 > c0:
                    fed |= pyramid.feed(layer, (c0, max(y, r0, 0), c1, min(y + h, r1)),
                                        (-margin, r0), shift)  # fmt: skip
        if not fed:
            out[b0:b1] = 0
            continue
        pyramid.collapse(b0 - r0, b1 - r0, margin, width, out[b0:b1])
    return out


_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="blend")


def _add_level(
    g: np.ndarray, lap: np.ndarray, m: np.ndarray, acc: np.ndarray, wacc: np.ndarray, last: bool
) -> None:
    """acc += (g - expanded coarser level, held in ``lap``) * m; wacc += m (in place)."""
    if last:
        lap[...] = g
    else:
        np.subtract(g, lap, out=lap)
    np.multiply(lap, m[..., None], out=lap)
    np.add(acc, lap, out=acc)
    np.add(wacc, m, out=wacc)


def _normalise(acc: np.ndarray, weight: np.ndarray) -> None:
    np.add(weight, WEIGHT_EPS, out=weight)
    np.divide(acc, weight[..., None], out=acc)


def _halves(fn: Callable[..., object], *arrays: np.ndarray) -> None:
    """``fn`` on the top and bottom halves of the rows of ``arrays`` at once."""
    h = arrays[0].shape[0]
    parts = [
        _POOL.submit(fn, *(a[r] for a in arrays)) for r in (slice(0, h // 2), slice(h // 2, h))
    ]
    for part in parts:
        part.result()


class _BandPyramid:
    """The Laplacian and weight accumulators of one band, reused from band to band."""

    def __init__(self, bands: int, roi_w: int, roi_h: int, step: int) -> None:
        self.bands, self.step = bands, step
        self.w, self.h = roi_w, roi_h
        self.acc = [empty((roi_h >> i, roi_w >> i, 3)) for i in range(bands + 1)]
        self.weight = [empty((roi_h >> i, roi_w >> i)) for i in range(bands + 1)]
        self.scratch = Scratch()

    def clear(self) -> None:
        _halves(lambda a, w: (a.fill(0), w.fill(0)), self.acc[0], self.weight[0])
        for a, w in zip(self.acc[1:], self.weight[1:], strict=True):
            a.fill(0)
            w.fill(0)

    def feed(
        self,
        layer: Layer,
        box: tuple[int, int, int, int],
        origin: tuple[int, int],
        shift: int,
    ) -> bool:
        """Add one layer's Laplacian pyramid, weighted, for its part ``box`` (x0, y0, x1,
        y1 in band-shifted canvas px) of the band whose corner is at ``origin``."""
        ox, oy = origin
        step, gap = self.step, GAP_LEVEL_PX * self.step
        # The pyramid covers the box plus `gap` of context, aligned to the coarsest level.
        x0 = max(0, box[0] - gap - ox) // step * step
        y0 = max(0, box[1] - gap - oy) // step * step
        x1 = min(self.w, -(-(box[2] + gap - ox) // step) * step)
        y1 = min(self.h, -(-(box[3] + gap - oy) // step) * step)
        g = self.scratch.get("g0", (y1 - y0, x1 - x0, 3))
        m = self.scratch.get("m0", (y1 - y0, x1 - x0))
        layer.render((x0 + ox - shift, y0 + oy, x1 - x0, y1 - y0), g, m, self.scratch)
        if not m.any():
            return False
        gs, ms = [g], [m]
        for i in range(1, self.bands + 1):
            hh, ww = gs[-1].shape[0] // 2, gs[-1].shape[1] // 2
            gs.append(cv2.pyrDown(gs[-1], dst=self.scratch.get(f"g{i}", (hh, ww, 3))))
            ms.append(cv2.pyrDown(ms[-1], dst=self.scratch.get(f"m{i}", (hh, ww))))
        for i in range(self.bands + 1):
            hh, ww = gs[i].shape[:2]
            lap = self.scratch.get(f"t{i}", (hh, ww, 3))
            if i < self.bands:
                cv2.pyrUp(gs[i + 1], dst=lap, dstsize=(ww, hh))
            ty, tx = y0 >> i, x0 >> i
            acc = self.acc[i][ty : ty + hh, tx : tx + ww]
            wacc = self.weight[i][ty : ty + hh, tx : tx + ww]
            last = i == self.bands
            # numpy runs one thread; two row halves at once use both cores.
            halves = [
                _POOL.submit(_add_level, gs[i][r], lap[r], ms[i][r], acc[r], wacc[r], last)
                for r in (slice(0, hh // 2), slice(hh // 2, hh))
            ]
            for half in halves:
                half.result()
        return True

    def collapse(self, row0: int, row1: int, margin: int, width: int, out: np.ndarray) -> None:
        """Normalise every level by its weights, collapse the pyramid, and write band rows
        ``row0:row1`` of columns ``margin:margin + width`` into ``out`` (uint8)."""
        for a, w in zip(self.acc, self.weight, strict=True):
            _halves(_normalise, a, w)
        for i in range(self.bands - 1, 0, -1):
            hh, ww = self.acc[i].shape[:2]
            up = self.scratch.get(f"t{i}", (hh, ww, 3))
            cv2.pyrUp(self.acc[i + 1], dst=up, dstsize=(ww, hh))
            np.add(self.acc[i], up, out=self.acc[i])
        # Level 0 only where the band keeps it, a chunk of columns at a time: the
        # expanded level 1 would otherwise need a band-sized buffer of its own.
        pad, chunk = 4, 2048
        lo, hi = row0 // 2 - pad, row1 // 2 + pad
        for c in range(margin, margin + width, chunk):
            ce = min(c + chunk, margin + width)
            ca, cb = c // 2 - pad, -(-ce // 2) + pad
            coarse = self.acc[1][lo:hi, ca:cb]
            up = self.scratch.get("up", (2 * (hi - lo), 2 * (cb - ca), 3))
            cv2.pyrUp(coarse, dst=up, dstsize=(up.shape[1], up.shape[0]))
            part = up[row0 - 2 * lo : row1 - 2 * lo, c - 2 * ca : ce - 2 * ca]
            np.add(part, self.acc[0][row0:row1, c:ce], out=part)
            # Black where no frame reaches at full resolution (as cv2's blender): the
            # coarse levels spread a little colour past the edge of coverage.
            covered = self.weight[0][row0:row1, c:ce] > 2 * WEIGHT_EPS
            np.multiply(part, covered[..., None], out=part)
            cv2.convertScaleAbs(part, dst=out[:, c - margin : ce - margin])
