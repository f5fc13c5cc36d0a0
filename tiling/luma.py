"""Cube faces at Lanczos quality for about the cost of bicubic: sharp luma, cheap chroma.

Measured on real panoramas at the published JPEG quality (``python -m tests.bench tiles``):
bilinear faces score 2-4 dB below their JPEG ceiling (an independent Lanczos-4 projection
after the same JPEG encoding), bicubic 0.3-0.9 dB, and a bicubic face costs about as much
CPU as this one. Nearly all of the loss is in luma: chroma sampled bilinearly at half
resolution costs under 0.1 dB, because the tiles are 4:2:0 JPEGs and keep no finer chroma.

So a face is rendered in two parts:

- **Luma.** The face's source window (the equirect rectangle its pixels sample, continued
  over the poles and across the yaw seam) is upsampled 2x with a half-phase Lanczos-4
  filter: the even samples are the source pixels, the odd ones the 8-tap Lanczos value half
  way between (separable, three ``filter2D`` passes). One bicubic remap of that 2x-denser
  copy scores within ~0.25 dB of the ceiling, which a direct Lanczos remap reaches at four
  times the CPU. (A whole-width window too wide for int16 maps, a polar face of a >16K
  equirect, is doubled in rows only.)
- **Chroma.** One bilinear remap of the BGR equirect at half the face size, converted to
  YCrCb and doubled; its Y is replaced by the sharp luma and the face converted back.

Pure array code: takes and returns numpy arrays, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Short name of this resampling, recorded with the tiles (scene.json) and in the version.
METHOD = "luma-lanczos2x-cubic"

#: Source pixels added around a face's window: the half-phase filter reaches 4 past the
#: last sample, and bicubic at 2x one more.
MARGIN = 8

#: A window more than this fraction of the width wide is taken whole (a face over a pole).
_WHOLE_WIDTH = 0.45

#: Largest side cv2.remap's int16 fixed-point maps can address.
MAX_SIDE = np.iinfo(np.int16).max - 2 * MARGIN


def _half_phase_kernel(lobes: int = 4) -> np.ndarray:
    """Lanczos-``lobes`` weights at the 2 x lobes source pixels around a half-way point."""
    x = np.arange(-lobes, lobes, dtype=np.float64) + 0.5
    w = np.sinc(x) * np.sinc(x / lobes)
    return (w / w.sum()).astype(np.float32)


_KERNEL = _half_phase_kernel()
_K_ROW = _KERNEL.reshape(1, -1)
_K_COL = _KERNEL.reshape(-1, 1)
# filter2D correlates: output x reads x - anchor .. x - anchor + 7, i.e. x - 3 .. x + 4,
# the 8 source pixels around x + 0.5.
_ANCHOR = len(_KERNEL) // 2 - 1


@dataclass(frozen=True, slots=True)
class LumaMaps:
    """Everything :func:`render_face` needs for one face of one equirect size.

    ``rows``/``cols`` are the source window (rows may run past the poles, columns past the
    seam, see :func:`sphere_window`); ``luma`` samples the window upsampled by
    ``(scale_x, 2)``; ``chroma`` samples the equirect itself at ``chroma_size`` px.
    """

    size: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    scale_x: int
    luma: tuple[np.ndarray, np.ndarray]
    chroma: tuple[np.ndarray, np.ndarray]
    chroma_size: int

    @property
    def nbytes(self) -> int:
        """Memory held by the maps."""
        return sum(m.nbytes for m in (*self.luma, *self.chroma))


def luma_maps(
    col: np.ndarray,
    row: np.ndarray,
    chroma: tuple[np.ndarray, np.ndarray],
    *,
    width: int,
    height: int,
) -> LumaMaps:
    """Plan a face: its source window and the fixed-point maps into it.

    Parameters
    ----------
    col, row:
        float32 (N, N) source coordinates of the face pixels in a ``width`` x ``height``
        equirect, cv2.remap convention (:func:`stitching.sphere.face_maps`), rows unclamped.
    chroma:
        cv2.remap maps (any kind cv2 takes) of the same face at half size into the equirect
        itself, sampled with ``BORDER_WRAP`` (:func:`stitching.sphere.fixed_point_maps`).

    Raises
    ------
    ValueError
        Maps that are not square, or a window too large for int16 maps.
    """
    size = col.shape[0]
    if col.shape != (size, size) or row.shape != col.shape:
        raise ValueError(f"face maps must be square and alike, got {col.shape}, {row.shape}")
    unwrapped = col
    lo, hi = float(col.min()), float(col.max())
    if hi - lo > _WHOLE_WIDTH * width:
        # Across the seam (columns near 0 and near W): unwrap around the face's centre.
        centre = float(col[size // 2, size // 2])
        unwrapped = np.mod(col - centre + width / 2.0, width) - width / 2.0 + centre
        lo, hi = float(unwrapped.min()), float(unwrapped.max())
        if hi - lo > _WHOLE_WIDTH * width:
            unwrapped = col  # the face surrounds a pole: every column, as they are
    (r0, r1), (c0, c1), scale_x = window_bounds(
        lo, hi, float(row.min()), float(row.max()), width=width, height=height
    )
    # Sample 2k of the upsampled window is source pixel k: coordinates simply double.
    x = np.subtract(unwrapped, c0, dtype=np.float32)
    x *= scale_x
    y = np.subtract(row, r0, dtype=np.float32)
    y *= 2.0
    luma = cv2.convertMaps(x, y, cv2.CV_16SC2)
    return LumaMaps(
        size=size,
        rows=(r0, r1),
        cols=(c0, c1),
        scale_x=scale_x,
        luma=(luma[0], luma[1]),
        chroma=chroma,
        chroma_size=chroma[0].shape[0],
    )


def window_bounds(
    lo: float, hi: float, row_min: float, row_max: float, *, width: int, height: int
) -> tuple[tuple[int, int], tuple[int, int], int]:
    """The source window of a face whose samples span columns lo..hi and rows row_min..max.

    Columns unwrapped across the seam, rows unclamped (cv2.remap convention). A span wider
    than :data:`_WHOLE_WIDTH` of the width surrounds a pole: then every column is taken,
    with a wrapped margin. Returns ``(rows, cols, scale_x)``: the half-open row and column
    ranges with :data:`MARGIN` around the samples, and the column upsampling (1 when twice
    the window would be too wide for int16 maps).

    Raises
    ------
    ValueError
        A window too large for int16 maps.
    """
    if hi - lo > _WHOLE_WIDTH * width:
        lo, hi = -0.5, width - 0.5
    c0, c1 = math.floor(lo) - MARGIN, math.ceil(hi) + MARGIN + 1
    pole = min(MARGIN, height)  # rows continued past a pole (all of a tiny image)
    r0 = max(-pole, math.floor(row_min) - MARGIN)
    r1 = min(height + pole, math.ceil(row_max) + MARGIN + 1)
    if r1 - r0 > MAX_SIDE // 2 or c1 - c0 > MAX_SIDE:
        raise ValueError(f"a {c1 - c0}x{r1 - r0} px source window is too large for a face")
    scale_x = 2 if 2 * (c1 - c0) <= MAX_SIDE else 1
    return (r0, r1), (c0, c1), scale_x


def sphere_window(
    img: np.ndarray,
    rows: tuple[int, int],
    cols: tuple[int, int],
    *,
    gray: bool = False,
) -> np.ndarray:
    """A copy of ``img[r0:r1, c0:c1]`` on the sphere: columns wrap, rows continue over a pole.

    Row -1-k is row k seen from the other side of the pole (half a turn of yaw away),
    row H+k is row H-1-k likewise; column c is column c mod W. Rows may run at most H past
    either pole. With ``gray``, a BGR ``img`` is converted to luma (BGR2GRAY, the Y of
    YCrCb) piece by piece, never copied whole.
    """
    height, width = img.shape[:2]
    (r0, r1), (c0, c1) = rows, cols
    shape = (r1 - r0, c1 - c0) if gray else (r1 - r0, c1 - c0, *img.shape[2:])
    out = np.empty(shape, img.dtype)
    b0, b1 = max(r0, 0), min(r1, height)
    if b1 > b0:
        _copy_wrapped(out[b0 - r0 : b1 - r0], img[b0:b1], c0, gray)
    for r in range(r0, min(0, r1)):
        _copy_wrapped(out[r - r0 : r - r0 + 1], img[-1 - r : -r], c0 + width // 2, gray)
    for r in range(max(height, r0), r1):
        src = 2 * height - 1 - r
        _copy_wrapped(out[r - r0 : r - r0 + 1], img[src : src + 1], c0 + width // 2, gray)
    return out


def _copy_wrapped(dst: np.ndarray, src: np.ndarray, start: int, gray: bool) -> None:
    """Fill ``dst`` with columns ``start``, ``start + 1``... of ``src``, wrapping, in slices."""
    width, done = src.shape[1], 0
    while done < dst.shape[1]:
        first = (start + done) % width
        n = min(dst.shape[1] - done, width - first)
        piece = src[:, first : first + n]
        dst[:, done : done + n] = cv2.cvtColor(piece, cv2.COLOR_BGR2GRAY) if gray else piece
        done += n


def upsample2(gray: np.ndarray, scale_x: int = 2) -> np.ndarray:
    """Double a uint8 (h, w) image's rows (and columns if ``scale_x`` is 2), half-phase Lanczos.

    Output sample 2k is input sample k unchanged; sample 2k + 1 is the Lanczos-4 value half
    way between k and k + 1 (edges replicated).

    Returns
    -------
    np.ndarray
        uint8 (2h, scale_x * w).
    """
    h, w = gray.shape
    border = cv2.BORDER_REPLICATE
    down = cv2.filter2D(gray, -1, _K_COL, anchor=(0, _ANCHOR), borderType=border)
    if scale_x == 1:
        rows = np.empty((h, 2, w), np.uint8)
        rows[:, 0] = gray
        rows[:, 1] = down
        return rows.reshape(2 * h, w)
    # Interleaved as (row, row parity, column, column parity): cv2.merge writes each pair
    # of planes into its rows at once (much faster than strided numpy assignments).
    out = np.empty((h, 2, w, 2), np.uint8)
    across = cv2.filter2D(gray, -1, _K_ROW, anchor=(_ANCHOR, 0), borderType=border)
    cv2.merge([gray, across], dst=out[:, 0])
    diag = cv2.filter2D(across, -1, _K_COL, anchor=(0, _ANCHOR), borderType=border)
    del across
    cv2.merge([down, diag], dst=out[:, 1])
    return out.reshape(2 * h, 2 * w)


def render_face(equirect: np.ndarray, maps: LumaMaps) -> np.ndarray:
    """Render one face planned by :func:`luma_maps` (module docstring).

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR full-sphere equirect, the size the maps were made for.

    Returns
    -------
    np.ndarray
        uint8 (N, N, 3) BGR face.

    Raises
    ------
    ValueError
        Not a uint8 BGR image.
    """
    check_bgr(equirect)
    luma = sharp_luma(equirect, maps.rows, maps.cols, maps.scale_x, maps.luma)
    return with_chroma(equirect, maps.chroma, maps.size, luma)


def check_bgr(equirect: np.ndarray) -> None:
    """ValueError unless ``equirect`` is uint8 BGR (H, W, 3)."""
    if equirect.dtype != np.uint8 or equirect.ndim != 3 or equirect.shape[2] != 3:
        raise ValueError(
            f"the published face needs a uint8 BGR equirect, got {equirect.dtype} {equirect.shape}"
        )


def sharp_luma(
    equirect: np.ndarray,
    rows: tuple[int, int],
    cols: tuple[int, int],
    scale_x: int,
    luma: tuple[np.ndarray, np.ndarray],
    *,
    flip: int | None = None,
) -> np.ndarray:
    """The luma of a face (or part of one): its window upsampled 2x, one bicubic remap.

    ``flip`` (a cv2.flip code) turns the window before and the result after, for maps made
    for the mirror image of this window (:mod:`tiling.mirror`).

    Returns
    -------
    np.ndarray
        uint8, the shape of the maps.
    """
    window = sphere_window(equirect, rows, cols, gray=True)
    if flip is not None:
        window = cv2.flip(window, flip)
    dense = upsample2(window, scale_x)
    del window
    out = cv2.remap(dense, luma[0], luma[1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    del dense
    return out if flip is None else cv2.flip(out, flip)


def with_chroma(
    equirect: np.ndarray, chroma: tuple[np.ndarray, np.ndarray], size: int, luma: np.ndarray
) -> np.ndarray:
    """The BGR face: ``luma`` (size, size) with chroma remapped at half size and doubled."""
    small = cv2.remap(equirect, chroma[0], chroma[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    ycc = cv2.cvtColor(small, cv2.COLOR_BGR2YCrCb, dst=small)
    if ycc.shape[0] != size:
        ycc = cv2.resize(ycc, (size, size), interpolation=cv2.INTER_LINEAR)
    ycc[..., 0] = luma
    del luma
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR, dst=ycc)
