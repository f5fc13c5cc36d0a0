"""Seam refinement: fold the residual misalignment measured along the seam into the geometry.

Both lenses are rendered into a thin strip along the seam (the great circle half way
between the lens axes); dense flow between the two strips, summarised per tile
(:func:`stitching.flow.tile_shifts`), gives the residual misalignment. The rotation of
lens 1 relative to lens 0, a common focal-length error and the shift of lens 1's circle
centre that best explain the tile shifts (a robust least-squares fit) are folded into the
geometry, a few times over. Lens 0 stays put, so the camera's front defines the output's
yaw 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from stitching.fisheye.geometry import RIM_MARGIN, Geometry, LensGeometry, lens_coords
from stitching.flow import TileShifts, tile_shifts
from stitching.lens import Lens, projection_radius
from stitching.sphere import rotation_from_vector

# Seam strips are rendered at the source's resolution at the rim, but at most this many px
# per radian: the flow that measures the seam costs in proportion to the strip's area, and
# sub-pixel flow on a strip this fine still places the seam well under a pixel of 8K frames.
_STRIP_PX_PER_RADIAN = 448.0
# A seam fit is solved from at least this many textured tiles.
_MIN_TILES = 8


@dataclass(frozen=True, slots=True)
class SeamFit:
    """Outcome of seam refinement.

    Shifts are median tile shifts along the seam in px of the source. ``reused`` fits were
    kept from an earlier frame of the same camera: their ``shift_after_px`` and ``tiles``
    are this frame's, everything else is from the frame the fit was made on.
    """

    geometry: Geometry
    shift_before_px: float  # with the profile alone
    shift_after_px: float  # with the refined geometry
    tiles: int
    rotation_deg: float  # size of the correction applied to lens 1
    focal_scale: float  # factor applied to both lenses' focal lengths
    centre_shift_px: tuple[float, float] = (0.0, 0.0)  # lens 1's circle centre moved by
    reused: bool = False


def seam_strips(
    img: np.ndarray, geometry: Geometry, *, px_per_radian: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both lenses rendered into a strip along the seam.

    The strip's columns run once round the seam great circle (s from 0 to 2 pi), its rows
    across it (t, positive towards lens 0's axis), over the overlap both lenses share.
    Its maps are cached per (geometry, resolution).

    Parameters
    ----------
    px_per_radian:
        The strip's resolution; default the source's at the rim, at most 448.

    Returns
    -------
    tuple
        (strip0, strip1: uint8 (h, w, 3); valid: read-only bool (h, w) where both lenses
        see; basis: read-only float64 (3, 3), rows e1, e2, n: s = 0 lies along e1, s =
        pi / 2 along e2, and n is the seam's normal).
    """
    strip = _strip_maps(geometry, px_per_radian or _strip_scale(geometry))
    strip0, strip1 = (
        cv2.remap(img, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        for maps in strip.maps
    )
    return strip0, strip1, strip.valid, strip.basis


def refine_seam(
    img: np.ndarray,
    geometry: Geometry,
    *,
    iterations: int = 6,
    tol_deg: float = 0.005,
    px_per_radian: float | None = None,
) -> SeamFit:
    """Fold the residual misalignment measured along the seam into the geometry.

    Each round measures the seam, solves for a rotation of lens 1, a common focal factor
    and a shift of lens 1's circle centre, and applies them; the geometry that measured
    best is kept (the profile's own when nothing did better).

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR dual-fisheye frame.
    geometry:
        Its geometry from the profile (see :func:`geometry_for`).
    iterations:
        Most rounds of solving; fewer when a round's correction is under ``tol_deg``.
    px_per_radian:
        The seam strip's resolution; default the source's at the rim, at most 448 (a
        coarse one, e.g. 64, is a cheap first pass from a rough start).

    Returns
    -------
    SeamFit
        The refined geometry and the median tile shift before and after, in px of the
        source frame (measured on a strip of at most 448 px per radian and scaled to the
        source's resolution at the rim). With too little texture along the seam, the
        geometry is returned unchanged.
    """
    scale = px_per_radian or _strip_scale(geometry)
    current = geometry
    measured: list[tuple[float, int, Geometry]] = []
    settled = False
    for _ in range(iterations + 1):
        strip0, strip1, valid, basis = seam_strips(img, current, px_per_radian=scale)
        found = tile_shifts(strip0, strip1, _strip_tile(valid), valid).trusted()
        shift = found.median_shift() * _native_scale(geometry) / scale
        measured.append((shift, len(found.shifts), current))
        if settled or len(measured) > iterations or len(found.shifts) < _MIN_TILES:
            break
        step = _solve_seam(found, current, basis, scale, valid.shape)
        current = _apply(current, rotation_from_vector(step[:3]), 1.0 + step[3], (step[4], step[5]))
        settled = (
            math.degrees(float(np.linalg.norm(step[:3]))) < tol_deg
            and abs(step[3]) < 1e-4
            and math.hypot(step[4], step[5]) < 0.05
        )
    before = measured[0][0]
    shift, tiles, best = min(measured, key=lambda m: m[0] if math.isfinite(m[0]) else math.inf)
    g0, g1 = geometry.lenses
    b0, b1 = best.lenses
    relative = g1.matrix().T @ b1.matrix()
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(relative) - 1.0) / 2.0))))
    return SeamFit(
        geometry=best,
        shift_before_px=before,
        shift_after_px=shift,
        tiles=tiles,
        rotation_deg=angle,
        focal_scale=b0.lens.focal(b0.radius) / g0.lens.focal(g0.radius),
        centre_shift_px=(b1.centre[0] - g1.centre[0], b1.centre[1] - g1.centre[1]),
    )


def measure_seam(img: np.ndarray, geometry: Geometry) -> TileShifts:
    """Trusted tile shifts between the two lenses along the seam (px of the source).

    Measured on the strip of :func:`seam_strips`; tile centres and shifts are scaled to
    the source's resolution at the rim.
    """
    scale = _strip_scale(geometry)
    strip0, strip1, valid, _ = seam_strips(img, geometry, px_per_radian=scale)
    found = tile_shifts(strip0, strip1, _strip_tile(valid), valid).trusted()
    k = _native_scale(geometry) / scale
    return TileShifts(found.centres * k, found.shifts * k, found.response)


def _native_scale(geometry: Geometry) -> float:
    """The source's px per radian at the rim (the circle's radius over half its fov)."""
    g0 = geometry.lenses[0]
    return g0.radius / g0.half_fov()


def _strip_scale(geometry: Geometry) -> float:
    return min(_native_scale(geometry), _STRIP_PX_PER_RADIAN)


@dataclass(frozen=True, slots=True)
class _Strip:
    maps: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    valid: np.ndarray
    basis: np.ndarray


@lru_cache(maxsize=16)
def _strip_maps(geometry: Geometry, scale: float) -> _Strip:
    """Fixed-point maps of the seam strip for both lenses (see :func:`seam_strips`)."""
    g0, g1 = geometry.lenses
    overlap = min(g0.half_fov(), g1.half_fov()) * (1.0 - RIM_MARGIN) - math.pi / 2
    half_rows = max(8, int(overlap * scale))
    cols = int(2 * math.pi * scale)
    basis = _seam_basis(geometry)
    x, y, z = _strip_directions(basis, half_rows, cols, scale)
    maps, valid = [], np.ones(x.shape, dtype=bool)
    for geo in geometry.lenses:
        col, row, margin = lens_coords(geo, x, y, z)
        maps.append(cv2.convertMaps(col, row, cv2.CV_16SC2))
        valid &= margin > 0
    valid.flags.writeable = False
    basis.flags.writeable = False
    return _Strip(maps=(maps[0], maps[1]), valid=valid, basis=basis)


def _apply(
    geometry: Geometry,
    correction: np.ndarray,
    focal_scale: float,
    centre_shift: tuple[float, float] = (0.0, 0.0),
) -> Geometry:
    """Geometry with lens 1 rotated by ``correction`` and its circle centre shifted, and
    both focal lengths scaled."""
    g0, g1 = geometry.lenses
    m1 = g1.matrix() @ correction
    centre1 = (g1.centre[0] + float(centre_shift[0]), g1.centre[1] + float(centre_shift[1]))
    lenses = []
    for g, m, centre in ((g0, g0.matrix(), g0.centre), (g1, m1, centre1)):
        fov = _scaled_fov(g.lens, focal_scale)
        rotation = tuple(float(v) for v in m.ravel())
        lenses.append(
            replace(g, lens=replace(g.lens, fov_deg=fov), rotation=rotation, centre=centre)
        )
    return Geometry(lenses=(lenses[0], lenses[1]), size=geometry.size)


def _scaled_fov(lens: Lens, focal_scale: float) -> float:
    # f = radius / g(fov/2): scaling f by k means g(fov'/2) = g(fov/2) / k. Solved by
    # bisection so every projection model works.
    if focal_scale == 1.0:
        return lens.fov_deg
    target = float(projection_radius(lens.projection, math.radians(lens.fov_deg) / 2)) / focal_scale
    lo, hi = 0.0, math.pi
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(projection_radius(lens.projection, mid)) < target:
            lo = mid
        else:
            hi = mid
    return math.degrees(lo + hi)


# Probes for the fit's derivatives: a rotation of lens 1 about world x, y, z (radians), a
# focal factor - 1, a shift of lens 1's centre in x, y (px); each with its step.
_PROBES: tuple[tuple[tuple[float, float, float], float, tuple[float, float], float], ...] = (
    ((1e-3, 0.0, 0.0), 0.0, (0.0, 0.0), 1e-3),
    ((0.0, 1e-3, 0.0), 0.0, (0.0, 0.0), 1e-3),
    ((0.0, 0.0, 1e-3), 0.0, (0.0, 0.0), 1e-3),
    ((0.0, 0.0, 0.0), 1e-3, (0.0, 0.0), 1e-3),
    ((0.0, 0.0, 0.0), 0.0, (0.5, 0.0), 0.5),
    ((0.0, 0.0, 0.0), 0.0, (0.0, 0.5), 0.5),
)


def _solve_seam(
    found: TileShifts, geometry: Geometry, basis: np.ndarray, scale: float, shape: tuple[int, int]
) -> np.ndarray:
    """The correction that best explains the tile shifts along the strip.

    Returns
    -------
    np.ndarray
        float64 (6,): rotation vector of lens 1 (radians, world axes), focal factor - 1,
        shift of lens 1's circle centre (px).
    """
    e1, e2, n = basis
    half_rows = (shape[0] - 1) / 2.0
    s = found.centres[:, 0] / scale
    t = (half_rows - (found.centres[:, 1] - 0.5)) / scale
    radial = np.cos(s)[:, None] * e1 + np.sin(s)[:, None] * e2
    p = np.cos(t)[:, None] * radial + np.sin(t)[:, None] * n
    e_s = -np.sin(s)[:, None] * e1 + np.cos(s)[:, None] * e2
    e_t = -np.sin(t)[:, None] * radial + np.cos(t)[:, None] * n
    # Lens 1 shows at p + move what lens 0 shows at p (strip x runs with s, rows against t).
    move = np.column_stack([found.shifts[:, 0], -found.shifts[:, 1]]) / scale
    # A change of the geometry moves a lens's image point of p by d_img; the content at a
    # fixed image point then moves by -J^-1 d_img on the sphere, J being the image px per
    # radian along (e_s, e_t). The seam closes when lens 1's content moves by -move
    # relative to lens 0's.
    jacobians, points = [], []
    for geo in geometry.lenses:
        at = _image_points(geo, p)
        along = [(_image_points(geo, p + 1e-4 * e) - at) / 1e-4 for e in (e_s, e_t)]
        jacobians.append(np.stack(along, axis=2))
        points.append(at)
    a = np.zeros((len(p), 2, len(_PROBES)))
    for j, (omega, focal, centre, step) in enumerate(_PROBES):
        probe = _apply(geometry, rotation_from_vector(np.array(omega)), 1.0 + focal, centre)
        for k, sign in ((1, 1.0), (0, -1.0)):
            d_img = (_image_points(probe.lenses[k], p) - points[k]) / step
            a[:, :, j] += sign * np.linalg.solve(jacobians[k], d_img[..., None])[..., 0]
    return _robust_solve(a, move, scale)


def _robust_solve(a: np.ndarray, move: np.ndarray, scale: float) -> np.ndarray:
    """Robust least squares of ``a @ x = move`` per tile, (n, 2, k) and (n, 2).

    Reweighted ten times: a tile whose residual exceeds the median residual (and half a
    strip px) has its rows scaled down by median / residual, which drives the fit towards
    least absolute deviations: near things (parallax no rotation can remove) and bad flow
    do not pull the seam off everywhere else.
    """
    flat = a.reshape(-1, a.shape[2])
    norms = np.linalg.norm(flat, axis=0)
    norms[norms == 0] = 1.0
    weights = np.ones(len(a))
    x = np.zeros(a.shape[2])
    for _ in range(10):
        rows = np.repeat(weights, 2)[:, None]
        x, *_ = np.linalg.lstsq(flat / norms * rows, move.reshape(-1) * rows[:, 0], rcond=1e-3)
        x = x / norms
        residual = np.linalg.norm(a @ x - move, axis=1) * scale  # strip px
        cut = max(0.5, float(np.median(residual)))
        weights = np.minimum(1.0, cut / np.maximum(residual, 1e-9))
    return x


def _image_points(geo: LensGeometry, p: np.ndarray) -> np.ndarray:
    """float64 (n, 2): (col, row) in a lens's image of directions p (n, 3)."""
    col, row, _ = lens_coords(geo, p[:, 0], p[:, 1], p[:, 2])
    return np.column_stack([col, row]).astype(np.float64)


def _seam_basis(geometry: Geometry) -> np.ndarray:
    """Rows e1, e2, n: an orthonormal basis with n half way between the lens axes' normal."""
    a0 = geometry.lenses[0].matrix()[2]  # lens axis in world axes
    a1 = geometry.lenses[1].matrix()[2]
    n = a0 - a1
    n /= np.linalg.norm(n)
    helper = np.array([0.0, 1.0, 0.0]) if abs(n[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(helper, n)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    return np.stack([e1, e2, n])


def _strip_directions(
    basis: np.ndarray, half_rows: int, cols: int, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e1, e2, n = basis
    s = ((np.arange(cols) + 0.5) / scale).astype(np.float64)
    t = ((half_rows - np.arange(2 * half_rows + 1)) / scale).astype(np.float64)
    ct, st = np.cos(t)[:, None], np.sin(t)[:, None]
    cs, ss = np.cos(s)[None, :], np.sin(s)[None, :]
    comps = [(ct * (cs * e1[k] + ss * e2[k]) + st * n[k]).astype(np.float32) for k in range(3)]
    return comps[0], comps[1], comps[2]


def _strip_tile(valid: np.ndarray) -> int:
    rows = int(valid.any(axis=1).sum())
    return max(8, min(64, rows))
