"""Dual-fisheye frame -> full-sphere equirect in one merged remap.

Every output pixel is sampled from the lens that sees it best, in one ``cv2.remap`` over
the whole frame; only the overlap band (where both lenses see) is sampled a second time
and feathered, the weight running linearly from one lens's rim to the other's. The maps
are cached per (geometry, input size, output size), the geometry being the profile after
seam refinement, so a camera's frames after the first cost one remap each.

Seam refinement: both lenses are rendered into a thin strip along the seam (the great
circle half way between the lens axes); tiles of the two strips are phase-correlated, and
the small rotation of lens 1 relative to lens 0, plus a common focal-length error, that
best explain the tile shifts are solved for and folded into the geometry. Lens 0 stays
put, so the camera's front defines the output's yaw 0.

Exposure and white balance: per-channel gains in linear light make the two lenses agree
in the overlap, applied to each lens's half of the frame with a lookup table.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import cv2
import numpy as np

from stitching.lens import Lens, LensProfile, projection_radius
from stitching.quality import TileShifts, tile_shifts

# Part of each circle's rim left out of the blend: the outer ~1 % of a fisheye circle is
# soft and dark.
_RIM_MARGIN = 0.01
# Rows per band while building maps: bounds the float temporaries for 8K outputs.
_BAND_PIXELS = 1 << 21
_GAMMA = 2.2
_BAND_WIDTH = 1024


@dataclass(frozen=True, slots=True)
class LensGeometry:
    """One lens placed in a concrete frame: everything a map needs, in px of that frame."""

    lens: Lens
    centre: tuple[float, float]  # (x, y), pixel centres at +0.5
    radius: float
    rotation: tuple[float, ...]  # row-major 3x3, world -> lens axes
    norm: float  # a/b/c normalisation radius
    vignetting_norm: float

    def matrix(self) -> np.ndarray:
        return np.array(self.rotation, dtype=np.float64).reshape(3, 3)

    def half_fov(self) -> float:
        """Half the field of view in radians."""
        return math.radians(self.lens.fov_deg) / 2.0


@dataclass(frozen=True, slots=True)
class Geometry:
    """Both lenses of a frame of ``size`` (width, height)."""

    lenses: tuple[LensGeometry, LensGeometry]
    size: tuple[int, int]


@dataclass(frozen=True, slots=True)
class SeamFit:
    """Outcome of seam refinement."""

    geometry: Geometry
    shift_before_px: float  # median tile shift along the seam, in px of the source
    shift_after_px: float
    tiles: int
    rotation_deg: float  # size of the correction applied to lens 1
    focal_scale: float  # factor applied to both lenses' focal lengths


def geometry_for(profile: LensProfile, width: int, height: int) -> Geometry:
    """Place a profile with concrete circles (see :meth:`LensProfile.scaled`) in a frame.

    Raises
    ------
    ValueError
        A lens has no centre or radius (detect the circles first).
    """
    scaled = profile.scaled(width, height)
    ref_w, ref_h = scaled.frame_size or (width, height)
    placed = []
    for i, lens in enumerate(scaled.lenses):
        if lens.centre is None or lens.radius is None:
            raise ValueError(f"profile {profile.name}: lens {i} has no circle centre/radius")
        placed.append(
            LensGeometry(
                lens=lens,
                centre=lens.centre,
                radius=lens.radius,
                rotation=tuple(float(v) for v in lens.rotation().ravel()),
                norm=min(ref_w, ref_h) / 2.0,
                vignetting_norm=math.hypot(ref_w, ref_h) / 2.0,
            )
        )
    return Geometry(lenses=(placed[0], placed[1]), size=(width, height))


def lens_coords(
    geo: LensGeometry, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where world directions land in a lens's image.

    Parameters
    ----------
    x, y, z:
        float32 arrays of one shape: direction components in world axes (any length).

    Returns
    -------
    tuple of np.ndarray
        (col, row, margin): source coordinates in cv2.remap's convention (pixel centres at
        integers) and the angle in radians between the direction and the lens's usable
        rim (positive inside the circle), all float32 of the input shape.
    """
    m = geo.matrix().astype(np.float32)
    lx = m[0, 0] * x + m[0, 1] * y + m[0, 2] * z
    ly = m[1, 0] * x + m[1, 1] * y + m[1, 2] * z
    lz = m[2, 0] * x + m[2, 1] * y + m[2, 2] * z
    rho = np.sqrt(lx * lx + ly * ly)
    theta = np.arctan2(rho, lz)
    lens = geo.lens
    r = (geo.radius / projection_radius(lens.projection, geo.half_fov())) * projection_radius(
        lens.projection, theta
    )
    if lens.a or lens.b or lens.c:
        rn = r / np.float32(geo.norm)
        d = 1.0 - lens.a - lens.b - lens.c
        r = ((np.float32(lens.a) * rn + np.float32(lens.b)) * rn + np.float32(lens.c)) * rn
        r = (r + np.float32(d)) * rn * np.float32(geo.norm)
    safe = np.maximum(rho, np.float32(1e-12))
    col = np.float32(geo.centre[0] - 0.5) + r * lx / safe
    row = np.float32(geo.centre[1] - 0.5) - r * ly / safe
    margin = np.float32(geo.half_fov() * (1.0 - _RIM_MARGIN)) - theta
    return col.astype(np.float32), row.astype(np.float32), margin.astype(np.float32)


@dataclass(frozen=True, slots=True)
class _Maps:
    primary: tuple[np.ndarray, np.ndarray]  # fixed-point maps over the whole output
    band_index: np.ndarray  # int64 (n,): flat output indices of the overlap band
    band_maps: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    band_weight: np.ndarray  # float32 (m, _BAND_WIDTH): weight of lens 0, padded
    split: int  # column dividing lens 1's half (left) from lens 0's (right)
    uncovered: float  # fraction of output pixels neither lens sees


class DualFisheyeRemapper:
    """Builds and caches merged remap maps; renders frames through them.

    Safe to share between threads; keeps the last ``maxsize`` map sets (a 5760 x 2880
    output costs about 140 MB of maps).
    """

    def __init__(self, *, maxsize: int = 2) -> None:
        self.maxsize = maxsize
        self._maps: OrderedDict[tuple[Geometry, int], _Maps] = OrderedDict()
        self._lock = threading.Lock()

    def maps(self, geometry: Geometry, out_width: int) -> _Maps:
        """The merged maps for a geometry and output width (built on first use)."""
        key = (geometry, out_width)
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
                return found
        built = _build_maps(geometry, out_width)
        with self._lock:
            self._maps[key] = built
            while len(self._maps) > self.maxsize:
                self._maps.popitem(last=False)
        return built

    def render(
        self,
        img: np.ndarray,
        geometry: Geometry,
        out_width: int,
        *,
        gains: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Render a uint8 BGR frame to a uint8 (out_width // 2, out_width, 3) equirect.

        ``gains`` are per-lens, per-channel (B, G, R) linear-light factors (see
        :func:`exposure_gains`).
        """
        maps = self.maps(geometry, out_width)
        src = compensate(img, geometry, maps.split, gains)
        out = cv2.remap(src, *maps.primary, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if len(maps.band_index):
            a = cv2.remap(src, *maps.band_maps[0], cv2.INTER_LINEAR)
            b = cv2.remap(src, *maps.band_maps[1], cv2.INTER_LINEAR)
            mixed = cv2.blendLinear(a, b, maps.band_weight, 1.0 - maps.band_weight)
            n = len(maps.band_index)
            out.reshape(-1, 3)[maps.band_index] = mixed.reshape(-1, 3)[:n]
        return out


def compensate(
    img: np.ndarray,
    geometry: Geometry,
    split: int,
    gains: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """The frame with vignetting undone and exposure gains applied per lens half.

    Returns ``img`` itself when there is nothing to do.
    """
    src = img
    if any(g.lens.has_vignetting for g in geometry.lenses):
        src = _devignette(src, geometry, split)
    if gains is not None and not all(np.allclose(g, 1.0, atol=0.004) for g in gains):
        out = np.empty_like(src)
        out[:, split:] = cv2.LUT(src[:, split:], _gain_lut(gains[0]))
        out[:, :split] = cv2.LUT(src[:, :split], _gain_lut(gains[1]))
        src = out
    return src


def exposure_gains(strip0: np.ndarray, strip1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel linear-light gains that make two renderings of the seam agree.

    Each lens moves half way (in log terms), so neither is favoured. Pixels near black or
    clipped in either strip are left out.

    Returns
    -------
    tuple of np.ndarray
        float64 (3,) gains for lens 0 and lens 1, B, G, R.
    """
    a = strip0.reshape(-1, 3).astype(np.float64)
    b = strip1.reshape(-1, 3).astype(np.float64)
    ok = (a.min(axis=1) > 8) & (b.min(axis=1) > 8) & (a.max(axis=1) < 247) & (b.max(axis=1) < 247)
    if ok.sum() < 100:
        return np.ones(3), np.ones(3)
    la = ((a[ok] / 255.0) ** _GAMMA).mean(axis=0)
    lb = ((b[ok] / 255.0) ** _GAMMA).mean(axis=0)
    ratio = np.clip(la / np.maximum(lb, 1e-9), 0.25, 4.0)
    return 1.0 / np.sqrt(ratio), np.sqrt(ratio)


def seam_strips(
    img: np.ndarray, geometry: Geometry, *, px_per_radian: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both lenses rendered into a strip along the seam.

    The strip's columns run once round the seam great circle (s from 0 to 2 pi), its rows
    across it (t, positive towards lens 0's axis), over the overlap both lenses share.

    Returns
    -------
    tuple
        (strip0, strip1: uint8 (h, w, 3); valid: bool (h, w) where both lenses see;
        basis: float64 (3, 3) rows e1, e2, n of the strip, and the strip's px per radian
        as ``basis`` is followed by nothing else - see :func:`_strip_directions`).
    """
    g0, g1 = geometry.lenses
    scale = px_per_radian or g0.radius / g0.half_fov()
    overlap = min(g0.half_fov(), g1.half_fov()) * (1.0 - _RIM_MARGIN) - math.pi / 2
    half_rows = max(8, int(overlap * scale))
    cols = int(2 * math.pi * scale)
    basis = _seam_basis(geometry)
    x, y, z = _strip_directions(basis, half_rows, cols, scale)
    strips, valid = [], np.ones(x.shape, dtype=bool)
    for geo in geometry.lenses:
        col, row, margin = lens_coords(geo, x, y, z)
        strips.append(cv2.remap(img, col, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
        valid &= margin > 0
    return strips[0], strips[1], valid, basis


def refine_seam(
    img: np.ndarray, geometry: Geometry, *, iterations: int = 6, tol_deg: float = 0.005
) -> SeamFit:
    """Fold the residual misalignment measured along the seam into the geometry.

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR dual-fisheye frame.
    geometry:
        Its geometry from the profile (see :func:`geometry_for`).

    Returns
    -------
    SeamFit
        The refined geometry and the median tile shift before and after, in px of the
        source frame (px of the strip, rendered at the source's resolution at the rim).
        With too little texture along the seam, the geometry is returned unchanged.
    """
    before = measure_seam(img, geometry)
    current = geometry
    total = np.eye(3)
    focal_scale = 1.0
    for _ in range(iterations):
        strip0, strip1, valid, basis = seam_strips(img, current)
        scale = current.lenses[0].radius / current.lenses[0].half_fov()
        tile = _strip_tile(valid)
        found = tile_shifts(strip0, strip1, tile, _rows_valid(valid)).trusted()
        if len(found.shifts) < 6:
            break
        omega, focal = _solve_seam(found, basis, scale, valid.shape)
        step = _rodrigues(omega)
        total = total @ step
        focal_scale *= focal
        current = _apply(geometry, total, focal_scale)
        if np.degrees(np.linalg.norm(omega)) < tol_deg and abs(focal - 1.0) < 1e-4:
            break
    after = measure_seam(img, current)
    if not (after.median_shift() <= before.median_shift()):
        current, after, total, focal_scale = geometry, before, np.eye(3), 1.0
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(total) - 1.0) / 2.0))))
    return SeamFit(
        geometry=current,
        shift_before_px=before.median_shift(),
        shift_after_px=after.median_shift(),
        tiles=len(after.shifts),
        rotation_deg=angle,
        focal_scale=focal_scale,
    )


def measure_seam(img: np.ndarray, geometry: Geometry) -> TileShifts:
    """Trusted tile shifts between the two lenses along the seam (px of the source)."""
    strip0, strip1, valid, _ = seam_strips(img, geometry)
    return tile_shifts(strip0, strip1, _strip_tile(valid), _rows_valid(valid)).trusted()


def _apply(geometry: Geometry, correction: np.ndarray, focal_scale: float) -> Geometry:
    """Geometry with lens 1 rotated by ``correction`` and both focal lengths scaled."""
    g0, g1 = geometry.lenses
    m1 = g1.matrix() @ correction
    lenses = []
    for g, m in ((g0, g0.matrix()), (g1, m1)):
        fov = _scaled_fov(g.lens, focal_scale)
        rotation = tuple(float(v) for v in m.ravel())
        lenses.append(replace(g, lens=replace(g.lens, fov_deg=fov), rotation=rotation))
    return Geometry(lenses=(lenses[0], lenses[1]), size=geometry.size)


def _scaled_fov(lens: Lens, focal_scale: float) -> float:
    # f = radius / g(fov/2): scaling f by k means g(fov'/2) = g(fov/2) / k. Solved by
    # bisection so every projection model works.
    target = float(projection_radius(lens.projection, math.radians(lens.fov_deg) / 2)) / focal_scale
    lo, hi = 0.0, math.pi
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(projection_radius(lens.projection, mid)) < target:
            lo = mid
        else:
            hi = mid
    return math.degrees(lo + hi)


def _solve_seam(
    found: TileShifts, basis: np.ndarray, scale: float, shape: tuple[int, int]
) -> tuple[np.ndarray, float]:
    """Rotation vector for lens 1 and a focal factor from tile shifts along the strip."""
    e1, e2, n = basis
    half_rows = (shape[0] - 1) / 2.0
    rows, rhs = [], []
    for (cx, cy), (dx, dy) in zip(found.centres, found.shifts, strict=True):
        s = cx / scale
        t = (half_rows - (cy - 0.5)) / scale
        p = math.cos(t) * (math.cos(s) * e1 + math.sin(s) * e2) + math.sin(t) * n
        e_s = -math.sin(s) * e1 + math.cos(s) * e2
        e_t = -math.sin(t) * (math.cos(s) * e1 + math.sin(s) * e2) + math.cos(t) * n
        move = (dx * e_s - dy * e_t) / scale  # strip x runs with s, rows run against t
        # Lens 1 shows at p what lens 0 shows at p + move; a rotation w of lens 1's
        # sampling moves it by w x p, a focal error by k along e_t.
        # w x p = -[p]x w
        cross = np.array([[0.0, -p[2], p[1]], [p[2], 0.0, -p[0]], [-p[1], p[0], 0.0]])
        rows.append(np.column_stack([-cross, e_t]))
        rhs.append(move)
    a = np.concatenate(rows)
    (w0, w1, w2, k), *_ = np.linalg.lstsq(a, np.concatenate(rhs), rcond=None)
    # k: radians both lenses disagree by across the seam; each lens sees the seam at about
    # 90 deg, so the focal factor that closes it is 1 + k / pi.
    return np.array([w0, w1, w2]), 1.0 + k / math.pi


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
    rows = int(_rows_valid(valid).any(axis=1).sum())
    return max(8, min(64, rows))


def _rows_valid(valid: np.ndarray) -> np.ndarray:
    """The valid mask with partly valid rows in the middle kept (rows at the rims vary)."""
    return valid


def _rodrigues(omega: np.ndarray) -> np.ndarray:
    rot, _ = cv2.Rodrigues(np.asarray(omega, dtype=np.float64).reshape(3, 1))
    return np.asarray(rot, dtype=np.float64)


def _build_maps(geometry: Geometry, out_width: int) -> _Maps:
    out_h = out_width // 2
    g0, g1 = geometry.lenses
    split = int(round((g0.centre[0] + g1.centre[0]) / 2.0))
    map1 = np.empty((out_h, out_width, 2), dtype=np.int16)
    map2 = np.empty((out_h, out_width), dtype=np.uint16)
    yaw = ((np.arange(out_width) + 0.5) / out_width - 0.5) * (2.0 * math.pi)
    sin_y, cos_y = np.sin(yaw).astype(np.float32), np.cos(yaw).astype(np.float32)
    band_idx, band_cols = [], []
    band = max(1, _BAND_PIXELS // out_width)
    uncovered = 0
    for top in range(0, out_h, band):
        bottom = min(out_h, top + band)
        pitch = (0.5 - (np.arange(top, bottom) + 0.5) / out_h) * math.pi
        cp = np.cos(pitch).astype(np.float32)[:, None]
        sp = np.sin(pitch).astype(np.float32)[:, None]
        x, y, z = cp * sin_y[None, :], np.broadcast_to(sp, (bottom - top, out_width)), cp * cos_y
        c0, r0, m0 = lens_coords(g0, x, y, z)
        c1, r1, m1 = lens_coords(g1, x, y, z)
        use0 = m0 >= m1
        col = np.where(use0, c0, c1)
        row = np.where(use0, r0, r1)
        uncovered += int(((m0 <= 0) & (m1 <= 0)).sum())
        m1_, m2_ = cv2.convertMaps(col, row, cv2.CV_16SC2)
        map1[top:bottom], map2[top:bottom] = m1_, m2_
        both = (m0 > 0) & (m1 > 0)
        w0 = m0 / np.maximum(m0 + m1, np.float32(1e-9))
        blend = both & (w0 > 0.002) & (w0 < 0.998)
        flat = np.flatnonzero(blend)
        band_idx.append(flat + top * out_width)
        band_cols.append(
            np.stack(
                [
                    c0.ravel()[flat],
                    r0.ravel()[flat],
                    c1.ravel()[flat],
                    r1.ravel()[flat],
                    w0.ravel()[flat],
                ]
            )
        )
    index = np.concatenate(band_idx)
    cols = np.concatenate(band_cols, axis=1).astype(np.float32)
    # cv2.remap wants both sides under 32767 px: lay the band out as rows of _BAND_WIDTH,
    # padding the end (the padding is rendered and dropped).
    padded = -(-len(index) // _BAND_WIDTH) * _BAND_WIDTH
    cols = np.pad(cols, ((0, 0), (0, padded - len(index))))
    band_maps = tuple(
        cv2.convertMaps(
            cols[k].reshape(-1, _BAND_WIDTH), cols[k + 1].reshape(-1, _BAND_WIDTH), cv2.CV_16SC2
        )
        for k in (0, 2)
    )
    return _Maps(
        primary=(map1, map2),
        band_index=index,
        band_maps=(band_maps[0], band_maps[1]),
        band_weight=np.ascontiguousarray(cols[4].reshape(-1, _BAND_WIDTH)),
        split=split,
        uncovered=uncovered / float(out_h * out_width),
    )


def _gain_lut(gain: np.ndarray) -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    lut = np.empty((1, 256, 3), dtype=np.uint8)
    for ch in range(3):
        out = np.clip((v**_GAMMA) * float(gain[ch]), 0.0, 1.0) ** (1.0 / _GAMMA)
        lut[0, :, ch] = np.round(out * 255.0).astype(np.uint8)
    return lut


def _devignette(img: np.ndarray, geometry: Geometry, split: int) -> np.ndarray:
    """Undo the profile's vignetting (Hugin's polynomial, in linear light)."""
    h, w = img.shape[:2]
    gain = np.ones((h, w), dtype=np.float32)
    for geo, cols in ((geometry.lenses[0], slice(split, w)), (geometry.lenses[1], slice(0, split))):
        lens = geo.lens
        if not lens.has_vignetting:
            continue
        xs = np.arange(w, dtype=np.float32)[cols] + 0.5 - geo.centre[0]
        ys = np.arange(h, dtype=np.float32)[:, None] + 0.5 - geo.centre[1]
        r2 = (xs[None, :] ** 2 + ys**2) / np.float32(geo.vignetting_norm**2)
        v = 1.0 + r2 * (lens.vb + r2 * (lens.vc + r2 * lens.vd))
        gain[:, cols] = np.clip(v, 0.2, 1.0) ** np.float32(-1.0 / _GAMMA)
    out = img.astype(np.float32) * gain[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)
