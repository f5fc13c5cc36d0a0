"""Compact maps for the published faces: half a face, mirrored, built with few arctangents.

Without a rotation every cube face is mirror-symmetric about its vertical centre line:
pixel (j, N-1-i) looks along the direction of pixel (j, i) with x negated, so its yaw is
negated and its source column is W - 1 - col (its row is the same). So a :class:`FacePlan`
keeps the luma maps of the left half of a face only, into the left half's own source
window, and :func:`render_planned` renders the right half with the same maps from its
window turned left-right (the mirror image of the left one) and turns the result back.
The luma is rendered half by half, so a polar face's 2x window is half as large too.
Two more symmetries leave only f, u and the chroma of d to plan (:mod:`tiling.cube`):
r, b and l are f turned by quarter turns of yaw (the same maps into windows shifted by
quarters of the width), and d is u seen in a mirror through the equator (u's maps into
d's windows turned upside down). The chroma maps (a quarter of the pixels) are kept whole.

Measured on an 8192x4096 equirect with 2560 px faces (tests/workers/test_worker_memory.py,
tests/bench/tiles.py): the maps a worker keeps are 66 MB (141 MB before, for six faces'
own maps), built cold in ~0.3 s of CPU (was ~1.2 s), and the tiles stage adds 134 MB to a
worker holding the equirect (was 348 MB). A rotated face (a levelled capture) has no such
symmetry: its maps are built whole, used and dropped.

Pure array code: takes and returns numpy arrays, no I/O.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from stitching.sphere import face_directions, fixed_point_maps
from tiling.luma import MARGIN, MAX_SIDE, check_bgr, sharp_luma, with_chroma

#: Rows of a face computed at once: the temporaries stay in the CPU caches.
_BAND = 64

#: Faces centred on yaw 0, whose halves mirror about the source's centre column.
MIRRORED = ("f", "u", "d")

#: Whether an int16 (x, y) pair viewed as int32 has x in its low half (little-endian).
_PACKED_X = sys.byteorder == "little"

#: cv2.remap's fixed-point maps: the fraction table is 32 x 32 (map2 = 32 fy + fx).
_TAB = 32

Maps = tuple[np.ndarray, np.ndarray]


@cache
def face_basis(face: str) -> np.ndarray:
    """The 3x3 basis of :mod:`stitching.sphere`: rows are the world directions of +a, +b and
    the face centre, so face point (a, b) looks along (a, b, 1) @ basis.

    Recovered from :func:`stitching.sphere.face_directions` (the one home of the face
    conventions): its 2x2 face has unit rays at a, b = +-0.5, all of length sqrt(1.5).
    """
    rays = face_directions(face, 2).astype(np.float64) * math.sqrt(1.5)
    centre = rays.mean(axis=(0, 1))
    along_a = (rays[:, 1] - rays[:, 0]).mean(axis=0)
    along_b = (rays[1, :] - rays[0, :]).mean(axis=0)
    return np.rint(np.stack([along_a, along_b, centre]))


def face_coords(
    face: str,
    size: int,
    width: int,
    height: int,
    *,
    rotation: np.ndarray | None = None,
    columns: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates of the face pixels in the first ``columns`` columns of a face.

    The same values as :func:`stitching.sphere.face_maps` (within float32 rounding,
    ~5e-4 px) for those columns, computed row band by row band.

    Returns
    -------
    tuple of np.ndarray
        (col, row) float32 (size, columns): cv2.remap convention, rows not clamped.
    """
    m = face_basis(face)
    if rotation is not None:
        m = m @ np.asarray(rotation, dtype=np.float64).T
    t = (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
    n = size if columns is None else columns
    along_a = [(t[:n] * m[0, k]).astype(np.float32)[None, :] for k in range(3)]
    along_b = [(t * m[1, k] + m[2, k]).astype(np.float32)[:, None] for k in range(3)]
    col = np.empty((size, n), np.float32)
    row = np.empty((size, n), np.float32)
    band = min(_BAND, size)
    x, y, z, h = (np.empty((band, n), np.float32) for _ in range(4))
    k_col, c_col = np.float32(width / (2.0 * math.pi)), np.float32(width / 2.0 - 0.5)
    k_row, c_row = np.float32(-height / math.pi), np.float32(height / 2.0 - 0.5)
    for top in range(0, size, band):
        rows = slice(top, min(top + band, size))
        k = rows.stop - top
        xs, ys, zs, hs = x[:k], y[:k], z[:k], h[:k]
        np.add(along_a[0], along_b[0][rows], out=xs)
        np.add(along_a[1], along_b[1][rows], out=ys)
        np.add(along_a[2], along_b[2][rows], out=zs)
        cv2.magnitude(xs, zs, hs)
        c, r = col[rows], row[rows]
        np.arctan2(xs, zs, out=c)
        c *= k_col
        c += c_col
        np.arctan2(ys, hs, out=r)
        r *= k_row
        r += c_row
    return col, row


def mirror_columns(half: Maps, size: int, centre: int) -> Maps:
    """The whole face's fixed-point maps from those of its left ``ceil(size / 2)`` columns.

    Column i >= ceil(size / 2) samples ``centre - X`` where X is what column size-1-i
    samples (rows as they are): for a fixed-point X = x + fx / 32 that is
    (centre - x - 1) + (32 - fx) / 32, or centre - x when fx is 0.

    Parameters
    ----------
    half:
        (map1, map2): int16 (size, h, 2) and uint16 (size, h), h = ceil(size / 2), from
        cv2.convertMaps(..., CV_16SC2).
    centre:
        Twice the source column of the mirror line, in the maps' units.
    """
    map1, map2 = half
    left = map1.shape[1]
    right = size - left
    out1 = np.empty((size, size, 2), np.int16)
    out2 = np.empty((size, size), np.uint16)
    out1[:, :left] = map1
    out2[:, :left] = map2
    if right:
        src1, src2 = map1[:, right - 1 :: -1], map2[:, right - 1 :: -1]
        fx = src2 & (_TAB - 1)
        carry = (fx > 0).astype(np.int16)
        np.subtract(np.int16(centre), src1[..., 0], out=out1[:, left:, 0])
        out1[:, left:, 0] -= carry
        out1[:, left:, 1] = src1[..., 1]
        out2[:, left:] = (src2 - fx) | ((_TAB - fx) & (_TAB - 1))
    return out1, out2


@dataclass(frozen=True, slots=True)
class FacePlan:
    """An unrotated face planned from its left half (module docstring).

    ``luma`` samples the left half's source window ``rows`` x ``cols`` upsampled by
    ``(scale_x, 2)`` (:mod:`tiling.luma`); the right half is the same maps on the mirror
    image of its own window. ``chroma`` is the whole face's half-size maps into the
    equirect itself (``BORDER_WRAP``).
    """

    size: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    scale_x: int
    luma: Maps
    chroma: Maps

    @property
    def nbytes(self) -> int:
        """Memory held by the maps (~4.5 bytes per face pixel: 29 MB at 2560 px)."""
        return sum(m.nbytes for m in (*self.luma, *self.chroma))


def plan_face(face: str, size: int, width: int, height: int) -> FacePlan:
    """Plan an unrotated face from the coordinates of its left half (module docstring).

    Raises
    ------
    ValueError
        A face whose centre is not at yaw 0 (only f, u and d are planned), or a window too
        large for int16 maps.
    """
    if face not in MIRRORED:
        raise ValueError(f"face {face!r} is not planned from a mirrored half; only {MIRRORED}")
    col, row = face_coords(face, size, width, height, columns=(size + 1) // 2)
    # The left half looks at yaw <= 0: columns -0.5 .. W/2 - 0.5, never across the seam.
    c0 = math.floor(float(col.min())) - MARGIN
    c1 = math.ceil(float(col.max())) + MARGIN + 1
    pole = min(MARGIN, height)
    r0 = max(-pole, math.floor(float(row.min())) - MARGIN)
    r1 = min(height + pole, math.ceil(float(row.max())) + MARGIN + 1)
    if r1 - r0 > MAX_SIDE // 2 or c1 - c0 > MAX_SIDE:
        raise ValueError(f"a {c1 - c0}x{r1 - r0} px source window is too large for a face")
    scale_x = 2 if 2 * (c1 - c0) <= MAX_SIDE else 1
    col -= c0
    col *= scale_x
    row -= r0
    row *= 2.0
    luma = cv2.convertMaps(col, row, cv2.CV_16SC2)
    del col, row
    return FacePlan(
        size=size, rows=(r0, r1), cols=(c0, c1), scale_x=scale_x, luma=(luma[0], luma[1]),
        chroma=whole_chroma(face, size, width, height),
    )  # fmt: skip


def render_planned(
    equirect: np.ndarray,
    plan: FacePlan,
    *,
    columns: int = 0,
    flip_rows: bool = False,
    chroma: Maps | None = None,
) -> np.ndarray:
    """Render a planned face half by half; uint8 (N, N, 3) BGR.

    ``columns``: the face is the plan's turned by that many source columns of yaw (r, b, l
    from f; ``plan.chroma`` shifted alike). ``flip_rows``: the face is the plan's seen in a
    mirror through the equator (d from u), with its own whole ``chroma`` maps.
    """
    check_bgr(equirect)
    width = equirect.shape[1]
    size, (c0, c1) = plan.size, plan.cols
    left = plan.luma[0].shape[1]
    luma = np.empty((size, size), np.uint8)
    rows = plan.rows
    if flip_rows:
        rows = (equirect.shape[0] - rows[1], equirect.shape[0] - rows[0])
    cols = (c0 + columns, c1 + columns)
    luma[:, :left] = sharp_luma(
        equirect, rows, cols, plan.scale_x, plan.luma, flip=0 if flip_rows else None
    )
    right = size - left
    if right:
        # The right half's window, turned left-right, is the mirror image of the left's.
        maps = plan.luma if right == left else tuple(m[:, :right].copy() for m in plan.luma)
        mirrored = (width - c1 + columns, width - c0 + columns)
        luma[:, left:] = sharp_luma(
            equirect, rows, mirrored, plan.scale_x, (maps[0], maps[1]),
            flip=-1 if flip_rows else 1,
        )  # fmt: skip
    if chroma is None:
        chroma = plan.chroma
        if columns:
            chroma = _shifted(chroma, columns, c0)
    return with_chroma(equirect, chroma, size, luma)


def _shifted(chroma: Maps, columns: int, first_column: int) -> Maps:
    """Chroma maps turned by ``columns`` (>= 0) source columns (exact: BORDER_WRAP)."""
    map1 = chroma[0]
    if first_column >= 0 and _PACKED_X and map1.flags.c_contiguous:
        # (x, y) int16 pairs read as one little-endian int32 have x in the low half; with
        # x >= 0 and no int16 overflow (the caller's check) one add shifts x alone.
        return (map1.view(np.int32) + np.int32(columns)).view(np.int16), chroma[1]
    map1 = map1.copy()
    map1[..., 0] += columns
    return map1, chroma[1]


def half_chroma(face: str, size: int, width: int, height: int) -> tuple[Maps, int]:
    """The left half of the half-size chroma maps of an unrotated face, and their size.

    They sample the equirect itself (``BORDER_WRAP``) and mirror about column W - 1.
    """
    chroma_size = max(1, (size + 1) // 2)
    col, row = face_coords(face, chroma_size, width, height, columns=(chroma_size + 1) // 2)
    return fixed_point_maps(col, row, height, cv2.INTER_LINEAR), chroma_size


def whole_chroma(face: str, size: int, width: int, height: int) -> Maps:
    """The whole half-size chroma maps of an unrotated face (d's, beside u's luma maps)."""
    half, chroma_size = half_chroma(face, size, width, height)
    return mirror_columns(half, chroma_size, width - 1)
