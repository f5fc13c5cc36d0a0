"""HDR brackets of one position: lined up, then fused into one image before tiling.

A camera in an HDR or auto-bracketing mode (Ricoh Theta, Insta360, a DSLR's AEB) writes
several exposures of one position. On a tripod they differ by a few pixels at most (the
shutter, a touch of the button), so they are lined up by a whole-pixel translation found
with median threshold bitmaps (Ward's MTB: a bitmap of "brighter than the median" does not
depend on the exposure, :func:`cv2.createAlignMTB`), then fused with Mertens exposure fusion
(Mertens, Kautz and Van Reeth 2007: per pixel, the best exposed, most contrasted, most
saturated brackets win, blended over a Laplacian pyramid). Fusion needs no camera response
curve and no tone mapping, which the EXIF of 360° cameras is rarely good enough for.

The fusion is the one of :func:`cv2.createMergeMertens` with all three weights (OpenCV's
default leaves well-exposedness out), computed bracket by bracket and in bands of rows: on
three 8K brackets it takes half the CPU and half the memory of OpenCV's (measured: 7 s CPU
and 1.8 GB above the brackets, against 14-18 s and 3.6 GB). It differs from OpenCV's only
in the contrast weight, which OpenCV takes from BGR input as if it were RGB; here it is
the luma of the BGR pixels.

Everything here works on arrays: uint8 (H, W, 3) BGR brackets of one size, either a full
equirect (its left and right edges meet: ``wrap=True``) or a dual-fisheye frame (black
outside the circles: ``wrap=False``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from config.errors import CaptureError

#: MTB searches shifts up to ``2**MTB_MAX_BITS - 1`` px (63): far more than a tripod moves.
MTB_MAX_BITS: Final = 6
#: Pixels within this many grey levels of the median are left out of the bitmaps (noise).
MTB_EXCLUDE_RANGE: Final = 4
#: Below this fraction of agreeing bitmap pixels after the best shift, two "brackets" are
#: not one view (measured: 0.98-1.0 for brackets of one position rendered ±2 EV apart;
#: 0.59-0.70 for shots of a real tripod rotation 30-90° apart).
MIN_AGREEMENT: Final = 0.8
#: Part of the image searched for the shift: the middle half of the rows, where an equirect
#: is least stretched and a dual-fisheye frame has both circle centres; a translation is
#: the same everywhere, and this halves the cost on an 8K panorama.
SEARCH_ROWS: Final = (0.25, 0.75)
#: Rows handled at a time where a step is per pixel (the weights, the finest levels of the
#: pyramid), so the float copies of an 8K bracket never exist whole. Even.
BAND_ROWS: Final = 512
#: Well-exposedness of each 8-bit level: a Gaussian around mid-grey, sigma 0.2 (Mertens).
_WELL_EXPOSED: Final = np.exp(-((np.arange(256) / 255.0 - 0.5) ** 2) / (2 * 0.2**2)).astype(
    np.float32
)
#: Columns of an equirect carried round from the other edge before fusing, as a fraction of
#: the width, so the pyramid blends across the 180° meridian as elsewhere (no seam there).
WRAP_PAD: Final = 1 / 16


@dataclass(frozen=True, slots=True)
class Alignment:
    """How a set of brackets lines up with its reference bracket.

    ``shifts[i]`` is the (dx, dy) translation in pixels (x right, y down) that moves
    bracket i onto the reference (``(0, 0)`` for the reference itself); ``agreement[i]``
    is the fraction of median-threshold bitmap pixels that agree after that shift, 0..1.
    """

    reference: int
    shifts: tuple[tuple[int, int], ...]
    agreement: tuple[float, ...]

    def lined_up(self, min_agreement: float = MIN_AGREEMENT) -> bool:
        """Whether every bracket shows the reference's view (see :data:`MIN_AGREEMENT`)."""
        return min(self.agreement) >= min_agreement


def reference_bracket(exposures_ev: Sequence[float | None]) -> int:
    """Index of the bracket the others are lined up with: the middle exposure.

    Parameters
    ----------
    exposures_ev:
        Exposure of each bracket in EV (any common origin), None when unknown.

    Returns
    -------
    int
        The bracket with the median exposure (the lower of two middle ones); the middle
        index when any exposure is unknown.
    """
    if not exposures_ev:
        raise ValueError("no brackets")
    known = [ev for ev in exposures_ev if ev is not None]
    if len(known) < len(exposures_ev):
        return (len(exposures_ev) - 1) // 2
    order = sorted(range(len(known)), key=lambda i: (known[i], i))
    return order[(len(order) - 1) // 2]


def align_brackets(images: Sequence[np.ndarray], *, reference: int) -> Alignment:
    """Find the whole-pixel shift of each bracket onto the reference (MTB).

    Parameters
    ----------
    images:
        uint8 (H, W, 3) BGR brackets of one size.
    reference:
        Index of the bracket the others are lined up with (:func:`reference_bracket`).

    Returns
    -------
    Alignment
        Shifts up to ``2**MTB_MAX_BITS - 1`` px each way, and how well each bracket agrees.

    Raises
    ------
    CaptureError
        Fewer than two brackets, or brackets that are not uint8 BGR images of one size.
    """
    _check(images)
    if not 0 <= reference < len(images):
        raise ValueError(f"reference {reference} is not one of {len(images)} brackets")
    mtb = cv2.createAlignMTB(MTB_MAX_BITS, MTB_EXCLUDE_RANGE, False)
    height = images[0].shape[0]
    top, bottom = (round(height * f) for f in SEARCH_ROWS)
    greys = [cv2.cvtColor(np.ascontiguousarray(i[top:bottom]), cv2.COLOR_BGR2GRAY) for i in images]
    bitmaps = [mtb.computeBitmaps(g) for g in greys]
    shifts: list[tuple[int, int]] = []
    agreement: list[float] = []
    for index, grey in enumerate(greys):
        if index == reference:
            shift = (0, 0)
        else:
            found = mtb.calculateShift(greys[reference], grey)
            shift = (int(found[0]), int(found[1]))
        shifts.append(shift)
        agreement.append(_agreement(bitmaps[reference], bitmaps[index], shift))
    return Alignment(reference=reference, shifts=tuple(shifts), agreement=tuple(agreement))


def shift_image(image: np.ndarray, dx: int, dy: int, *, wrap: bool) -> np.ndarray:
    """The image moved by (dx, dy) pixels, x right and y down.

    Parameters
    ----------
    image:
        (H, W) or (H, W, C) array.
    dx, dy:
        Whole-pixel shift.
    wrap:
        True for a full equirect: columns leaving one edge come in at the other (a turn
        of the camera) and the pole rows are repeated. False: what comes in is black
        (outside a fisheye circle).
    """
    height, width = image.shape[:2]
    if abs(dx) >= width or abs(dy) >= height:
        raise ValueError(f"shift ({dx}, {dy}) is larger than the {width}x{height} image")
    if wrap:
        moved = np.roll(image, dx, axis=1) if dx else image
        rows = np.clip(np.arange(height) - dy, 0, height - 1)
        return moved[rows] if dy else moved.copy()
    out = np.zeros_like(image)
    src_x, dst_x = _span(dx, width)
    src_y, dst_y = _span(dy, height)
    out[dst_y, dst_x] = image[src_y, src_x]
    return out


def fuse_brackets(
    images: Sequence[np.ndarray], alignment: Alignment | None = None, *, wrap: bool
) -> np.ndarray:
    """Line the brackets up and fuse them into one image (Mertens exposure fusion).

    Parameters
    ----------
    images:
        uint8 (H, W, 3) BGR brackets of one size.
    alignment:
        The shifts to apply first (:func:`align_brackets`); None: the brackets are used as
        they are.
    wrap:
        True for a full equirect (see :func:`shift_image`): the fusion then also blends
        across the left/right edge, so the 180° meridian shows no seam.

    Returns
    -------
    np.ndarray
        uint8 (H, W, 3) BGR, the same size as the brackets.

    Raises
    ------
    CaptureError
        As :func:`align_brackets`.
    """
    _check(images)
    if alignment is not None and len(alignment.shifts) != len(images):
        raise ValueError(f"{len(alignment.shifts)} shifts for {len(images)} brackets")
    shifted = [
        shift_image(image, dx, dy, wrap=wrap) if (dx, dy) != (0, 0) else image
        for image, (dx, dy) in zip(
            images, alignment.shifts if alignment else [(0, 0)] * len(images), strict=True
        )
    ]
    width = images[0].shape[1]
    pad = max(1, round(width * WRAP_PAD)) if wrap else 0
    if pad:
        shifted = [np.concatenate([i[:, -pad:], i, i[:, :pad]], axis=1) for i in shifted]
    fused = mertens_fusion(shifted)
    del shifted
    if pad:
        fused = fused[:, pad:-pad]
    # Mertens gives floats about 0..1 with a little overshoot at strong edges.
    out = np.empty(fused.shape, np.uint8)
    np.multiply(fused, 255.0, out=fused)
    np.add(fused, 0.5, out=fused)
    np.clip(fused, 0.0, 255.0, out=fused)
    out[...] = fused
    return out


def mertens_fusion(images: Sequence[np.ndarray]) -> np.ndarray:
    """Mertens exposure fusion of brackets that are already lined up.

    Parameters
    ----------
    images:
        uint8 (H, W, 3) BGR brackets of one size.

    Returns
    -------
    np.ndarray
        float32 (H, W, 3) BGR, about 0..1 (a little overshoot at strong edges).
    """
    _check(images)
    weights = [_weights(image) for image in images]
    total = weights[0].copy()
    for weight in weights[1:]:
        total += weight
    levels = int(math.log2(min(images[0].shape[:2])))
    pyramid: list[np.ndarray] = []  # the fused Laplacian pyramid, finest level first
    for image in images:
        weight = weights.pop(0)  # freed once used
        np.divide(weight, total, out=weight)
        level: np.ndarray = image.astype(np.float32)
        level *= 1.0 / 255.0
        # The Laplacian pyramid of the bracket, each level weighted by the Gaussian pyramid
        # of its weight and added in; one level of the bracket exists at a time.
        for depth in range(levels + 1):
            coarser = cv2.pyrDown(level) if depth < levels else None
            if coarser is not None:
                _add_expanded(level, coarser, subtract=True)
            np.multiply(level, weight[..., None], out=level)
            if depth == len(pyramid):
                pyramid.append(level)
            else:
                pyramid[depth] += level
            if coarser is None:
                break
            level, weight = coarser, cv2.pyrDown(weight)
    del total
    while len(pyramid) > 1:
        coarse = pyramid.pop()
        _add_expanded(pyramid[-1], coarse, subtract=False)
    return pyramid[0]


def _weights(image: np.ndarray) -> np.ndarray:
    """Mertens' weight of each pixel: contrast x saturation x well-exposedness, float32."""
    height = image.shape[0]
    grey = np.empty(image.shape[:2], np.float32)
    weight = np.empty(image.shape[:2], np.float32)
    for top in range(0, height, BAND_ROWS):
        band = image[top : top + BAND_ROWS]
        light = band.astype(np.float32)
        light *= 1.0 / 255.0
        grey[top : top + BAND_ROWS] = cv2.cvtColor(light, cv2.COLOR_BGR2GRAY)
        blue, green, red = cv2.split(light)
        mean = (blue + green + red) * (1.0 / 3.0)
        blue -= mean
        green -= mean
        red -= mean
        saturation = cv2.sqrt(blue * blue + green * green + red * red)
        exposed = cv2.split(cv2.LUT(band, _WELL_EXPOSED))
        weight[top : top + BAND_ROWS] = saturation * exposed[0] * exposed[1] * exposed[2]
    contrast = cv2.Laplacian(grey, cv2.CV_32F)
    weight *= np.abs(contrast, out=contrast)
    weight += 1e-12  # a pixel no bracket shows well still gets their mean
    return weight


def _add_expanded(fine: np.ndarray, coarse: np.ndarray, *, subtract: bool) -> None:
    """``fine`` -/+= ``cv2.pyrUp(coarse)`` in place, a band of rows at a time (exactly)."""
    height, width = fine.shape[:2]
    rows = coarse.shape[0]
    margin = 2  # coarse rows each side: the 5-tap kernel reaches one
    for top in range(0, height, BAND_ROWS):
        bottom = min(top + BAND_ROWS, height)
        first = max(top // 2 - margin, 0)
        last = min((bottom + 1) // 2 + margin, rows)
        # Up to the bottom edge, the expanded band ends where the whole image does.
        size = height - 2 * first if last == rows else 2 * (last - first)
        expanded = cv2.pyrUp(coarse[first:last], dstsize=(width, size))
        part = expanded[top - 2 * first : bottom - 2 * first]
        if subtract:
            fine[top:bottom] -= part
        else:
            fine[top:bottom] += part


def _check(images: Sequence[np.ndarray]) -> None:
    if len(images) < 2:
        raise CaptureError(f"HDR fusion needs at least two brackets, got {len(images)}")
    first = images[0]
    for index, image in enumerate(images):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise CaptureError(
                f"bracket {index + 1}: expected a uint8 BGR image, got {image.dtype} {image.shape}"
            )
        if image.shape != first.shape:
            raise CaptureError(
                f"bracket {index + 1} is {image.shape[1]}x{image.shape[0]} but bracket 1 is "
                f"{first.shape[1]}x{first.shape[0]}; brackets of one position have one size"
            )


def _span(shift: int, size: int) -> tuple[slice, slice]:
    """Source and destination slices of a 1-D shift by ``shift`` within ``size``."""
    if shift >= 0:
        return slice(0, size - shift), slice(shift, size)
    return slice(-shift, size), slice(0, size + shift)


def _agreement(
    reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray],
    shift: tuple[int, int],
) -> float:  # fmt: skip
    """Fraction of bitmap pixels (both outside the exclusion band) that agree after ``shift``."""
    (ref_bits, ref_keep), (bits, keep) = reference, other
    height, width = ref_bits.shape
    dx, dy = shift
    src_x, dst_x = _span(dx, width)
    src_y, dst_y = _span(dy, height)
    valid = cv2.bitwise_and(ref_keep[dst_y, dst_x], keep[src_y, src_x])
    counted = cv2.countNonZero(valid)
    if counted == 0:
        return 0.0
    differ = cv2.bitwise_and(cv2.bitwise_xor(ref_bits[dst_y, dst_x], bits[src_y, src_x]), valid)
    return 1.0 - cv2.countNonZero(differ) / counted
