"""Dual-fisheye frame -> full-sphere equirect in one merged remap.

Every output pixel is sampled from the lens that sees it best, in one ``cv2.remap`` over
the whole frame. Across a narrow band either side of the seam (where the two lenses see
equally well) the other lens is sampled a second time and feathered in, the weight
running linearly across the band. The band is laid out as rectangles of the output
(per run of rows, the columns the band needs there), so the blend writes straight into
output slices. The maps are cached per (geometry, output width), the geometry being the
profile after seam refinement, so a camera's frames after the first cost one remap each.

Seam refinement: both lenses are rendered into a thin strip along the seam (the great
circle half way between the lens axes); dense flow between the two strips, summarised
per tile, gives the residual misalignment. The rotation of lens 1 relative to lens 0, a
common focal-length error and the shift of lens 1's circle centre that best explain the
tile shifts (a robust least-squares fit) are folded into the geometry, a few times over.
Lens 0 stays put, so the camera's front defines the output's yaw 0. A camera's
misalignment is fixed, so :class:`DualFisheyeRemapper` keeps the fit per camera and frame
size, and later frames only measure the seam to check that the fit still holds.

Exposure and white balance: per-channel gains in linear light make the two lenses agree
in the overlap. With gamma 2.2 a linear-light gain ``g`` is exactly a multiplication by
``g ** (1 / 2.2)`` of the 8-bit values (up to clipping), applied to each lens's half of
the frame.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace
from functools import lru_cache

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
_LINEAR = (np.arange(256) / 255.0) ** _GAMMA  # 8-bit value -> linear light
#: Resampling by name, as settings give it.
INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
#: Default width of the feathered band across the seam, degrees of arc (see
#: :class:`DualFisheyeRemapper`).
FEATHER_DEG = 4.0
# The band is laid out as rectangles grown a block of rows at a time; a block joins the
# rectangle above it when their union is at most _RECT_SLACK px wider than either.
_RECT_ROWS = 16
_RECT_SLACK = 16
# Seam strips are rendered at the source's resolution at the rim, but at most this many px
# per radian: the flow that measures the seam costs in proportion to the strip's area, and
# sub-pixel flow on a strip this fine still places the seam well under a pixel of 8K frames.
_STRIP_PX_PER_RADIAN = 448.0
# A seam fit is solved from at least this many textured tiles.
_MIN_TILES = 8
# A camera's kept seam fit is refitted on a frame whose seam shift exceeds both of these
# (px of the source; the factor is of the shift the fit left on its own frame).
_RECHECK_PX = 1.0
_RECHECK_FACTOR = 1.5
# Fits kept per remapper (one per camera and frame size; each is a few hundred bytes).
_MAX_FITS = 64


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
class _Feather:
    """A rectangle of the output across the seam: the other lens's sample and the weights."""

    rows: slice
    cols: slice
    maps: tuple[np.ndarray, np.ndarray]  # fixed-point maps of the lens NOT sampled first
    weight: np.ndarray  # float32 (h, w): weight of the primary sample, 0.5..1
    rest: np.ndarray  # float32 (h, w): 1 - weight


@dataclass(frozen=True, slots=True)
class _Maps:
    primary: tuple[np.ndarray, np.ndarray]  # fixed-point maps over the whole output
    feathers: tuple[_Feather, ...]
    split: int  # column dividing lens 1's half (left) from lens 0's (right)
    uncovered: float  # fraction of output pixels neither lens sees
    vignetting: np.ndarray | None  # float32 (H, W): gain undoing the profile's vignetting


class DualFisheyeRemapper:
    """Builds and caches merged remap maps and per-camera seam fits; renders frames.

    Safe to share between threads; keeps the last ``maxsize`` map sets (a 5760 x 2880
    output costs about 100 MB of maps). ``feather_deg`` is the full width, in degrees of
    arc across the seam, over which the two lenses are blended (at most the overlap).
    ``interpolation`` is cv2.INTER_LINEAR or cv2.INTER_CUBIC: sharper (+2.2 dB on the
    5760 px harness frame rendered at 4096) when the output is about as fine as the
    circles or finer, worse when much coarser (it aliases), and twice the time.
    """

    def __init__(
        self,
        *,
        maxsize: int = 2,
        feather_deg: float = FEATHER_DEG,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> None:
        self.maxsize = maxsize
        self.feather_deg = feather_deg
        self.interpolation = interpolation
        self._maps: OrderedDict[tuple[Geometry, int], _Maps] = OrderedDict()
        self._fits: OrderedDict[Hashable, SeamFit] = OrderedDict()
        self._lock = threading.Lock()

    def maps(self, geometry: Geometry, out_width: int) -> _Maps:
        """The merged maps for a geometry and output width (built on first use)."""
        key = (geometry, out_width)
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
                return found
        built = _build_maps(geometry, out_width, math.radians(self.feather_deg))
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
        src = _compensate(img, maps.split, gains, maps.vignetting)
        flags, border = self.interpolation, cv2.BORDER_CONSTANT
        out = cv2.remap(src, *maps.primary, flags, borderMode=border)
        for f in maps.feathers:
            other = cv2.remap(src, *f.maps, flags, borderMode=border)
            view = out[f.rows, f.cols]
            cv2.blendLinear(view, other, f.weight, f.rest, dst=view)
        return out

    def fit_seam(self, img: np.ndarray, geometry: Geometry, *, camera: Hashable) -> SeamFit:
        """Seam refinement for a camera, kept for its later frames.

        The first frame of ``camera`` (any key naming one camera and frame size, e.g. its
        lens profile and the size) is refined from ``geometry`` (see :func:`refine_seam`).
        Later frames only measure the seam with the kept geometry, and are refined afresh
        when the shift exceeds both 1 px and 1.5 times what the fit left on its own frame
        (another unit of the same model, a knock); whichever of the kept and the new fit
        does better on that frame is kept. A frame with too little texture to measure
        keeps the fit.
        """
        with self._lock:
            kept = self._fits.get(camera)
        if kept is not None:
            now = measure_seam(img, kept.geometry)
            shift = now.median_shift()
            reuse = replace(kept, shift_after_px=shift, tiles=len(now.shifts), reused=True)
            if not shift > max(_RECHECK_PX, _RECHECK_FACTOR * kept.shift_after_px):
                return reuse
        fit = refine_seam(img, geometry)
        if kept is not None and not fit.shift_after_px < reuse.shift_after_px:
            fit = reuse
        with self._lock:
            self._fits[camera] = fit
            self._fits.move_to_end(camera)
            while len(self._fits) > _MAX_FITS:
                self._fits.popitem(last=False)
        return fit


def _compensate(
    img: np.ndarray,
    split: int,
    gains: tuple[np.ndarray, np.ndarray] | None,
    vignetting: np.ndarray | None,
) -> np.ndarray:
    """The frame with vignetting undone and exposure gains applied per lens half.

    Returns ``img`` itself when there is nothing to do.
    """
    if gains is not None and all(np.allclose(g, 1.0, atol=0.004) for g in gains):
        gains = None
    if vignetting is not None:
        out = img.astype(np.float32)
        out *= vignetting[:, :, None]
        if gains is not None:
            out[:, split:] *= _gamma_gain(gains[0]).astype(np.float32)
            out[:, :split] *= _gamma_gain(gains[1]).astype(np.float32)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if gains is None:
        return img
    # A per-channel multiplication as a diagonal colour transform: the same result as a
    # lookup table or cv2.multiply, at a third of their time.
    out = np.empty_like(img)
    for half, gain in ((np.s_[:, split:], gains[0]), (np.s_[:, :split], gains[1])):
        cv2.transform(img[half], np.diag(_gamma_gain(gain)).astype(np.float32), dst=out[half])
    return out


def _gamma_gain(gain: np.ndarray) -> np.ndarray:
    """The 8-bit (gamma 2.2) factor of a linear-light gain, per channel."""
    return np.asarray(gain, dtype=np.float64) ** (1.0 / _GAMMA)


def exposure_gains(strip0: np.ndarray, strip1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel linear-light gains that make two renderings of the seam agree.

    Each lens moves half way (in log terms), so neither is favoured. Pixels near black or
    clipped in either strip are left out.

    Returns
    -------
    tuple of np.ndarray
        float64 (3,) gains for lens 0 and lens 1, B, G, R.
    """
    a, b = strip0.reshape(-1, 3), strip1.reshape(-1, 3)
    ok = (a.min(axis=1) > 8) & (b.min(axis=1) > 8) & (a.max(axis=1) < 247) & (b.max(axis=1) < 247)
    if ok.sum() < 100:
        return np.ones(3), np.ones(3)
    la = _LINEAR[a[ok]].mean(axis=0)
    lb = _LINEAR[b[ok]].mean(axis=0)
    ratio = np.clip(la / np.maximum(lb, 1e-9), 0.25, 4.0)
    return 1.0 / np.sqrt(ratio), np.sqrt(ratio)


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
    img: np.ndarray, geometry: Geometry, *, iterations: int = 6, tol_deg: float = 0.005
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

    Returns
    -------
    SeamFit
        The refined geometry and the median tile shift before and after, in px of the
        source frame (measured on a strip of at most 448 px per radian and scaled to the
        source's resolution at the rim). With too little texture along the seam, the
        geometry is returned unchanged.
    """
    scale = _strip_scale(geometry)
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
        current = _apply(current, _rodrigues(step[:3]), 1.0 + step[3], (step[4], step[5]))
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
    overlap = min(g0.half_fov(), g1.half_fov()) * (1.0 - _RIM_MARGIN) - math.pi / 2
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
        probe = _apply(geometry, _rodrigues(np.array(omega)), 1.0 + focal, centre)
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


def _rodrigues(omega: np.ndarray) -> np.ndarray:
    rot, _ = cv2.Rodrigues(np.asarray(omega, dtype=np.float64).reshape(3, 1))
    return np.asarray(rot, dtype=np.float64)


def _build_maps(geometry: Geometry, out_width: int, feather: float) -> _Maps:
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
        feathers.append(_Feather(rows_, cols_, (maps[0], maps[1]), weight, 1.0 - weight))
    vignetting = None
    if any(g.lens.has_vignetting for g in geometry.lenses):
        vignetting = _vignetting_gain(geometry, split)
    return _Maps(
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


def _vignetting_gain(geometry: Geometry, split: int) -> np.ndarray:
    """float32 (H, W): the 8-bit gain undoing the profile's vignetting (Hugin's
    polynomial, in linear light), per lens half."""
    w, h = geometry.size
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
    return gain
