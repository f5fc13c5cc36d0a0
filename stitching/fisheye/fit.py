"""Fitting a dual-fisheye lens model from the frame itself, for cameras without a profile.

Given the two detected image circles, :func:`fit_lens` finds the projection model
(equidistant or equisolid), the field of view and lens 1's pose relative to lens 0 by
making the two lenses agree over the band both see:

1. a coarse grid over projection x field of view (x a quarter-turn roll between the
   circles) at low resolution; each grid point refined cheaply by the seam machinery
   (:func:`stitching.fisheye.seam.refine_seam`: rotation of lens 1, a common focal
   factor and lens 1's centre, from dense flow along the seam) at 64 px per radian and
   scored by the correlation of the two renderings of the band (:func:`band_agreement`);
2. the best few per projection refined again at full resolution;
3. the fit whose lenses agree best (mean of the fine and coarse correlation) wins.

The agreement is a zero-mean normalised cross-correlation of the high-passed logarithm of
the luma: vignetting and an exposure difference are smooth factors of the brightness, so
in log terms they are smooth offsets the high-pass removes, and the geometry can be fitted
before either of them is known.

A fit *converges* when the seam closes (median tile shift within
``MAX_SHIFT_PX`` per 1920 px of frame width, from at least 8 textured tiles), the
lenses agree (correlation at least ``MIN_AGREEMENT``), lens 1 is within
``MAX_ROTATION_DEG`` of back to back and the field of view is within ``FOV_RANGE``;
otherwise :attr:`LensFit.reason` says what failed, in words for a technician.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from stitching.circles import Circle
from stitching.fisheye.geometry import Geometry, geometry_for
from stitching.fisheye.seam import measure_seam, refine_seam, seam_strips
from stitching.lens import GENERIC_FOV_DEG, Lens, LensProfile, Projection

#: Projection models tried.
PROJECTIONS: tuple[Projection, ...] = ("equidistant", "equisolid")
#: Fields of view (degrees) a fit may end at; outside it is not a fit of a consumer lens.
FOV_RANGE = (180.0, 230.0)
#: Fields of view of the coarse grid (degrees).
COARSE_FOVS = tuple(float(v) for v in np.arange(184.0, 224.0, 2.0))
#: Correlation of the two lenses over the band (after the fit) below which the frame is
#: not two views of one scene.
MIN_AGREEMENT = 0.45
#: Lens 1's pose may be at most this far off back to back (degrees, after the nearest
#: quarter-turn roll); beyond it the fit found no pose a real camera has.
MAX_ROTATION_DEG = 12.0
#: Median seam shift after the fit (px per 1920 px of frame width) above which it failed.
MAX_SHIFT_PX = 3.0
#: Radius factors of the circles tried when the fit at the detected circles does not
#: converge (see :func:`fit_lens`).
RIM_SHRINKS = (0.94, 0.91)
#: Rolls of lens 1's circle relative to lens 0's tried by the coarse grid (degrees): some
#: cameras turn each circle a quarter turn in the frame (the Ricoh Theta S's video).
ROLLS = (0.0, 90.0, 180.0, -90.0)
# The coarse grid renders the band at this resolution (px per radian) and blurs it a little:
# enough for a few degrees of lens rotation the grid does not search to still correlate.
_COARSE_PX_PER_RADIAN = 64.0
_COARSE_BLUR = 1.5
# Scale (px of the band) of the high-pass that removes vignetting and exposure.
_HIGH_PASS = 6.0
# Grid points per projection refined at full resolution.
_STARTS = 2
_MIN_TILES = 8


@dataclass(frozen=True, slots=True)
class LensFit:
    """Outcome of :func:`fit_lens`.

    ``geometry`` is the fitted geometry in the frame (lens 0 at yaw 0), ``profile`` the
    same as a :class:`~stitching.lens.LensProfile` for the frame's size. Shifts are
    median tile shifts along the seam in px of the source; agreement is the band
    correlation (1 = the lenses agree perfectly), residual ``1 - agreement``.
    """

    profile: LensProfile
    geometry: Geometry
    converged: bool
    reason: str
    agreement: float
    shift_generic_px: float  # with the generic model and the detected circles
    shift_px: float
    tiles: int
    rotation_deg: float  # lens 1's pose off exactly back to back
    candidates: tuple[tuple[str, float, float], ...]  # (projection, fov, agreement) tried

    @property
    def residual(self) -> float:
        return 1.0 - self.agreement

    def summary(self) -> dict[str, Any]:
        """JSON-able figures for the stitch details (without the profile record)."""
        lenses = self.profile.lenses
        return {
            "converged": self.converged,
            "reason": self.reason,
            "residual": round(self.residual, 4),
            "projection": lenses[0].projection,
            "fov_deg": [round(lens.fov_deg, 2) for lens in lenses],
            "rotation_deg": round(self.rotation_deg, 3),
            "seam_shift_generic_px": _round(self.shift_generic_px),
            "seam_shift_px": _round(self.shift_px),
            "seam_tiles": self.tiles,
            "candidates": [
                {"projection": p, "fov_deg": round(f, 2), "agreement": round(a, 4)}
                for p, f, a in self.candidates
            ],
        }


def fit_lens(img: np.ndarray, circles: tuple[Circle, Circle]) -> LensFit:
    """Fit projection, field of view and lens 1's pose from a dual-fisheye frame.

    When the fit at the detected circles does not converge, it is tried again with the
    circles' radii shrunk by each of ``RIM_SHRINKS`` (same centres): the outermost ring of
    a real lens's picture (its own housing seen edge-on, the strongest distortion) is
    left out of the band the lenses are compared over and of the render. The converged
    fit whose lenses agree best wins; with none, the first fit's figures and reason.

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR frame, two fisheye circles side by side.
    circles:
        (right, left) circles as :func:`stitching.circles.detect_circles` returns them:
        lens 0 (forward) is the right circle, lens 1 (backward) the left one.

    Returns
    -------
    LensFit
        The best fit found, converged or not (see the module doc); never raises for a
        frame that does not fit.
    """
    first = _fit_at(img, circles)
    if first.converged:
        return first
    tries = [first]
    for shrink in RIM_SHRINKS:
        inner = tuple(replace(c, radius=c.radius * shrink) for c in circles)
        found = _fit_at(img, (inner[0], inner[1]))
        tries.append(replace(found, shift_generic_px=first.shift_generic_px))
    converged = [t for t in tries if t.converged]
    return max(converged, key=lambda t: t.agreement) if converged else first


def _fit_at(img: np.ndarray, circles: tuple[Circle, Circle]) -> LensFit:
    """:func:`fit_lens` at the given circles."""
    h, w = img.shape[:2]
    generic = geometry_for(_profile(circles, "equidistant", GENERIC_FOV_DEG, (w, h)), w, h)
    shift_generic = measure_seam(img, generic).median_shift()
    size = (w, h)
    # A quarter-turn roll between the circles is gross: the grid at no rotation finds it.
    roll = max(
        ROLLS,
        key=lambda r: max(
            band_agreement(img, _geometry(circles, p, fov, size, r), True)
            for p in PROJECTIONS
            for fov in COARSE_FOVS[::2]
        ),
    )
    # Every grid point refined cheaply at low resolution (rotation, focal, lens 1's centre),
    # the best few per projection again at full resolution.
    starts: list[tuple[float, Projection, Geometry]] = []
    for projection in PROJECTIONS:
        quick = []
        for fov in COARSE_FOVS:
            g = refine_seam(
                img, _geometry(circles, projection, fov, size, roll),
                px_per_radian=_COARSE_PX_PER_RADIAN,
            ).geometry  # fmt: skip
            quick.append((band_agreement(img, g, True), projection, g))
        quick.sort(key=lambda q: -q[0])
        kept: list[float] = []
        for q in quick:  # the best few that did not end at the same field of view
            fov = q[2].lenses[0].lens.fov_deg
            if len(kept) < _STARTS and all(abs(fov - k) > 1.0 for k in kept):
                kept.append(fov)
                starts.append(q)
    candidates: list[tuple[str, float, float]] = []
    refined: list[tuple[float, Projection, Geometry, float, int]] = []
    for _, projection, start in starts:
        fit = refine_seam(img, start)
        agreement = (
            band_agreement(img, fit.geometry) + band_agreement(img, fit.geometry, True)
        ) / 2
        candidates.append((projection, fit.geometry.lenses[0].lens.fov_deg, agreement))
        refined.append((agreement, projection, fit.geometry, fit.shift_after_px, fit.tiles))
    agreement, projection, geometry, shift, tiles = max(refined, key=lambda r: r[0])
    profile = profile_of(geometry, name=f"fitted {projection}")
    rotation = _rotation_off(geometry)
    reason = _failure(agreement, shift, tiles, geometry, profile, w)
    return LensFit(
        profile=profile,
        geometry=geometry,
        converged=not reason,
        reason=reason,
        agreement=agreement,
        shift_generic_px=shift_generic,
        shift_px=shift,
        tiles=tiles,
        rotation_deg=rotation,
        candidates=tuple(candidates),
    )


def band_agreement(img: np.ndarray, geometry: Geometry, coarse: bool = False) -> float:
    """Correlation of the two lenses' renderings of the band both see, -1..1.

    Zero-mean normalised cross-correlation of the high-passed log luma (robust to
    vignetting and exposure) per tile along the band, the median over textured tiles;
    ``coarse`` renders the band at 64 px per radian, blurred.
    """
    scale = _COARSE_PX_PER_RADIAN if coarse else None
    strip0, strip1, valid, _ = seam_strips(img, geometry, px_per_radian=scale)
    # Where either lens shows nothing (the frame's edge clips a circle) is not compared.
    seen = valid & (strip0.max(axis=2) > 8) & (strip1.max(axis=2) > 8)
    mask = cv2.erode(seen.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if mask.sum() < 64:
        return -1.0
    a, b = (_high_pass(s, mask, coarse) * mask for s in (strip0, strip1))
    # Per tile of the strip's length, then the median: a near thing (parallax no model
    # removes) or a blown-out sky spoils its own tiles, not the whole band.
    tile = max(8, strip0.shape[0])
    count = strip0.shape[1] // tile
    if count < 4:
        return -1.0
    cut = count * tile

    def sums(v: np.ndarray) -> np.ndarray:
        return np.asarray(v[:, :cut].reshape(v.shape[0], count, tile).sum(axis=(0, 2)))

    n = sums(mask.astype(np.float32))
    sa, sb = sums(a), sums(b)
    n_safe = np.maximum(n, 1.0)
    cov = sums(a * b) - sa * sb / n_safe
    var_a = sums(a * a) - sa * sa / n_safe
    var_b = sums(b * b) - sb * sb / n_safe
    # Tiles mostly seen, and with texture in both lenses (above the 8-bit noise floor).
    floor = 1e-4 * n_safe
    ok = (n >= 0.5 * n.max()) & (var_a > floor) & (var_b > floor)
    if ok.sum() < 4:
        return -1.0
    ncc = cov[ok] / np.sqrt(var_a[ok] * var_b[ok])
    return float(np.median(ncc))


def profile_of(geometry: Geometry, *, name: str) -> LensProfile:
    """A geometry (lens 0 at yaw 0) as a concrete lens profile for its frame size."""
    lenses = []
    for geo in geometry.lenses:
        pitch, roll, yaw = pose_angles(geo.matrix())
        lenses.append(
            replace(
                geo.lens,
                centre=(float(geo.centre[0]), float(geo.centre[1])),
                radius=float(geo.radius),
                pitch_deg=pitch,
                roll_deg=roll,
                yaw_deg=yaw,
            )  # fmt: skip
        )
    return LensProfile(
        name=name,
        lenses=(lenses[0], lenses[1]),
        frame_size=geometry.size,
        notes=("lens fitted from the frame: no profile for this camera",),
    )


def pose_angles(world_to_lens: np.ndarray) -> tuple[float, float, float]:
    """(pitch, roll, yaw) in degrees whose :func:`stitching.sphere.pose_rotation` is
    ``world_to_lens`` (float (3, 3))."""
    o = np.asarray(world_to_lens, dtype=np.float64).T  # lens -> world: yaw @ pitch @ roll
    pitch = math.asin(max(-1.0, min(1.0, float(o[1, 2]))))
    yaw = math.atan2(float(o[0, 2]), float(o[2, 2]))
    cp, sp, cy, sy = math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
    yaw_m = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    pitch_m = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])
    rest = pitch_m.T @ yaw_m.T @ o
    roll = math.atan2(float(rest[0, 1]), float(rest[0, 0]))
    return math.degrees(pitch), math.degrees(roll), math.degrees(yaw)


def _high_pass(strip: np.ndarray, mask: np.ndarray, coarse: bool) -> np.ndarray:
    gray = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY).astype(np.float32)
    log = np.log1p(gray)
    if coarse:
        log = cv2.GaussianBlur(log, (0, 0), _COARSE_BLUR)
    # The smooth part, from valid pixels only (normalised convolution), so the black
    # beyond a rim does not leak in.
    m = mask.astype(np.float32)
    num = cv2.GaussianBlur(log * m, (0, 0), _HIGH_PASS, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(m, (0, 0), _HIGH_PASS, borderType=cv2.BORDER_REFLECT)
    return np.asarray(log - num / np.maximum(den, 1e-6), dtype=np.float32)


def _failure(
    agreement: float, shift: float, tiles: int, geometry: Geometry, profile: LensProfile, width: int
) -> str:
    """Why a fit did not converge, in words; empty when it did."""
    limit = MAX_SHIFT_PX * width / 1920
    fov = profile.lenses[0].fov_deg
    if tiles < _MIN_TILES or not math.isfinite(shift):
        return (
            f"the seam has too little texture to fit the lens ({tiles} textured tiles "
            f"along it, {_MIN_TILES} needed)"
        )
    if agreement < MIN_AGREEMENT:
        return (
            f"the two circles do not show the same scene where they overlap (agreement "
            f"{agreement:.2f}, {MIN_AGREEMENT:g} needed): not a dual-fisheye frame of one "
            "camera, or a lens this fit cannot model"
        )
    rotation = _rotation_off(geometry)
    if rotation > MAX_ROTATION_DEG:
        return (
            f"the lenses came out {rotation:.1f}° off back to back ({MAX_ROTATION_DEG:g}° "
            "at most): the fit found no consistent pose"
        )
    if shift > limit:
        return f"the lenses still meet {shift:.1f} px apart along the seam ({limit:.1f} px allowed)"
    if not FOV_RANGE[0] <= fov <= FOV_RANGE[1]:
        return f"the fitted field of view {fov:.1f}° is outside {FOV_RANGE[0]:g}-{FOV_RANGE[1]:g}°"
    return ""


def _profile(
    circles: tuple[Circle, Circle],
    projection: Projection,
    fov: float,
    size: tuple[int, int],
    roll: float = 0.0,
) -> LensProfile:
    c0, c1 = circles
    lenses = (
        Lens(fov_deg=fov, projection=projection, centre=(c0.x, c0.y), radius=c0.radius),
        Lens(
            fov_deg=fov,
            projection=projection,
            centre=(c1.x, c1.y),
            radius=c1.radius,
            yaw_deg=180.0,
            roll_deg=roll,
        ),  # fmt: skip
    )
    return LensProfile(
        name=f"candidate {projection} {fov:g}", lenses=(lenses[0], lenses[1]), frame_size=size
    )


def _geometry(
    circles: tuple[Circle, Circle],
    projection: Projection,
    fov: float,
    size: tuple[int, int],
    roll: float = 0.0,
) -> Geometry:
    return geometry_for(_profile(circles, projection, fov, size, roll), *size)


def _rotation_off(geometry: Geometry) -> float:
    """Degrees lens 1's pose is off exactly back to back with lens 0."""
    m0, m1 = (g.matrix() for g in geometry.lenses)
    back = np.diag([-1.0, 1.0, -1.0])  # yaw 180
    relative = (m1 @ m0.T) @ back.T
    # Measured from the nearest quarter-turn roll the grid tried.
    relative = min(
        (_roll_matrix(roll) @ relative for roll in ROLLS),
        key=lambda r: -float(np.trace(r)),
    )
    return math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(relative)) - 1.0) / 2.0))))


def _round(v: float) -> float | None:
    return round(float(v), 2) if math.isfinite(v) else None


def _roll_matrix(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


class LensFits:
    """Converged lens fits kept per frame size and circles, for a camera's later frames.

    A frame whose size matches and whose circles are within ``tolerance`` of the radius
    of a kept fit's (centres and radii) gets that fit; safe to share between threads.
    """

    def __init__(self, *, maxsize: int = 32, tolerance: float = 0.01) -> None:
        self.maxsize = maxsize
        self.tolerance = tolerance
        self._fits: list[tuple[tuple[int, int], tuple[Circle, Circle], LensFit]] = []
        self._lock = threading.Lock()

    def fit(self, img: np.ndarray, circles: tuple[Circle, Circle]) -> tuple[LensFit, bool]:
        """(fit, reused): a kept fit for this camera, else :func:`fit_lens` (kept when it
        converged)."""
        size = (img.shape[1], img.shape[0])
        with self._lock:
            for kept_size, kept_circles, kept in self._fits:
                if kept_size == size and self._same(kept_circles, circles):
                    return kept, True
        found = fit_lens(img, circles)
        if found.converged:
            with self._lock:
                self._fits.append((size, circles, found))
                del self._fits[: max(0, len(self._fits) - self.maxsize)]
        return found, False

    def _same(self, a: tuple[Circle, Circle], b: tuple[Circle, Circle]) -> bool:
        for p, q in zip(a, b, strict=True):
            tol = self.tolerance * p.radius
            if max(abs(p.x - q.x), abs(p.y - q.y), abs(p.radius - q.radius)) > tol:
                return False
        return True
