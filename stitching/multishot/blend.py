"""Multi-band blending of the warped frames, one band of canvas rows at a time.

A 12 x 20 MP set makes a canvas of about 17000 x 8500 px. OpenCV's multi-band blender
keeps a Laplacian pyramid of its whole output (int16 colour plus float weights, about
13 bytes a canvas pixel: 1.9 GB there), and warping every frame whole adds its maps and
pixels on top. Here the canvas is cut into bands of rows; each band is blended on its
own with a margin of rows above and below, wide enough that the blender's coarsest
level sees the same neighbourhood as on the whole canvas, and only the band's own rows
are kept. Each frame is warped band by band too, so no full-size warped frame exists.
The band also reaches a margin of columns across yaw +-180 deg, so the left and right
edges of the equirect are blended as the neighbours they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Canvas rows blended at once. With a 17000 px canvas a band's blender holds about
#: 17000 x (BAND_ROWS + 2 margins) x 13 bytes, ~350 MB at 1024 rows.
BAND_ROWS = 1024
#: Margin rows either side of a band, in units of the coarsest level's pixel (2^bands):
#: the 5-tap pyramid kernels reach about 4 such pixels through the levels. With 4 the
#: lunchroom set differs from a whole-canvas blend by at most one grey level except for a
#: dozen pixels at the edge of coverage. (int16 weights would save a fifth of the memory
#: but move 0.7 % of the pixels by more than one level.)
MARGIN_LEVEL_PX = 4


@dataclass(frozen=True, slots=True)
class Layer:
    """One frame's piece of the canvas, ready to be warped band by band.

    ``box`` is the piece's canvas box (x, y, w, h) in px; ``render(sub_box)`` returns the
    frame resampled into ``sub_box`` (a box of the same columns, fewer rows) as an int16
    (h, w, 3) image with its exposure gain applied and a uint8 (h, w) mask (255 where the
    frame is used after seam cutting).
    """

    box: tuple[int, int, int, int]
    render: Callable[[tuple[int, int, int, int]], tuple[np.ndarray, np.ndarray]]


def blend_bands(
    layers: Sequence[Layer], width: int, bands: int, band_rows: int = BAND_ROWS
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
        Canvas rows blended at once (rounded up to a multiple of 2^bands).

    Returns
    -------
    np.ndarray
        uint8 (width // 2, width, 3) BGR, black where no piece reaches.
    """
    height = width // 2
    step = 1 << bands
    rows = max(step, -(-band_rows // step) * step)
    margin = MARGIN_LEVEL_PX * step
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top = min((la.box[1] for la in layers), default=height)
    bottom = max((la.box[1] + la.box[3] for la in layers), default=0)
    # Bands start on a multiple of 2^bands, so every band's pyramid is aligned the same way.
    for b0 in range(top // step * step, bottom, rows):
        b1 = min(b0 + rows, height)
        r0, r1 = max(0, b0 - margin), min(height, b1 + margin)
        # The canvas wraps: the blender sees `margin` columns beyond either edge, filled
        # with what lies across the wrap, so both edges blend the same neighbourhood and
        # meet without a step.
        blender = cv2.detail.MultiBandBlender(0, bands)
        blender.prepare((-margin, r0, width + 2 * margin, r1 - r0))
        fed = False
        for layer in layers:
            x, y, w, h = layer.box
            y0, y1 = max(y, r0), min(y + h, r1)
            if y1 <= y0:
                continue
            img, mask = layer.render((x, y0, w, y1 - y0))
            if not mask.any():
                continue
            blender.feed(img, mask, (x, y0))
            fed = True
            # Copies of the columns within `margin` of an edge, across the wrap.
            for lo, hi, shift in ((width - margin, width, -width), (0, margin, width)):
                c0, c1 = max(x, lo), min(x + w, hi)
                if c1 > c0 and mask[:, c0 - x : c1 - x].any():
                    blender.feed(
                        np.ascontiguousarray(img[:, c0 - x : c1 - x]),
                        np.ascontiguousarray(mask[:, c0 - x : c1 - x]),
                        (c0 + shift, y0),
                    )
        if not fed:
            continue
        result, _ = blender.blend(None, None)  # type: ignore[call-overload]
        band = np.asarray(result)[b0 - r0 : b1 - r0, margin : margin + width]
        cv2.convertScaleAbs(band, dst=out[b0:b1])
    return out
