"""Vignetting and exposure fitted from the overlap band both lenses of a dual-fisheye frame see.

Every direction of the overlap is seen at radius r0 in lens 0 and r1 in lens 1. In linear
light (8-bit values undone with gamma 2.2), per channel c,
``log I0 - log I1 = log g_c + log V0(r0) - log V1(r1)``: the gain between the lenses and
the two fall-offs. The band is a thin ring near both rims, where a direction close to
lens 0's axis side is far out in lens 1 and the other way round, so what it measures is:

- the gain ``g_c`` between the lenses at the seam, per channel (well determined);
- the *sum* of the two lenses' log fall-off slopes at the seam radius (the odd part of
  the difference across the band), and more weakly its third derivative. How that slope
  splits between the lenses, the level of the fall-off at the seam and its curvature
  cancel out of the difference: they are not identifiable from one frame. So both lenses
  share one fall-off ``V(rho) = 1 + v s(rho)``, ``rho`` the radius over the circle's rim
  radius and ``s`` a shape running from 0 at the centre to 1 at the rim, so ``v`` is the
  fall-off at the rim (``V = 1 + v`` there; -0.4 is 60 % at the rim).
- the shape only where the band says so clearly: ``s`` is one of a few mixtures of
  rho^2, rho^4 and rho^6 (Hugin's terms), and one other than the prior
  ``(rho^2 + 2 rho^4) / 3`` is taken only when it fits the band better tile by tile along
  the seam (a paired test over the tiles, t < -3). The prior holds most of the fall-off
  near the rim, as published calibrations of these lenses do (the Gear 360's Hugin
  figures hold 50-80 % of their rim fall-off in R^4). A lens whose fall-off has another
  shape that the band cannot tell gets the right seam (the slope is fitted) and a smooth
  brightness error towards its centre of up to ~15 % of its rim fall-off.

The fit is robust: pixels near black or clipped in either lens are dropped, the strips
are summed over small bins (sums survive sub-pixel misalignment and blur differences
that per-pixel ratios do not), and bins are Huber-weighted (parallax, moving things).
``v`` is regularised towards no vignetting (a Gaussian prior of 0.3 on the rim fall-off),
held between 0 (a lens is never brighter at its rim) and -0.8 (the render's floor of 20 %)
and rounded to 0.01, so a camera's frames keep hitting the same cached render maps.

Hugin's polynomial is what the render applies (:func:`stitching.fisheye.exposure.
vignetting_gain`): with ``s = c2 rho^2 + c4 rho^4 + c6 rho^6`` each lens gets
``vb = v c2 / q^2``, ``vc = v c4 / q^4``, ``vd = v c6 / q^6``, ``q`` being its rim radius
over Hugin's normalisation (half the frame's diagonal).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from stitching.fisheye.geometry import Geometry, LensGeometry
from stitching.fisheye.seam import seam_strips

_GAMMA = 2.2
_LINEAR = ((np.arange(256) / 255.0) ** _GAMMA).astype(np.float32)
# 8-bit values outside this range (in any channel, in either lens) are not trusted.
_DARK, _BRIGHT = 6, 249
# Bins: about this many along the seam, and this many across the overlap.
_BINS_ALONG, _BINS_ACROSS = 256, 12
# Prior on the rim fall-off (standard deviation), its bounds and the rounding step.
_PRIOR = 0.3
_V_MIN, _V_MAX = -0.8, 0.0
_V_STEP = 0.01
_HUBER = 1.345
# A bin is used when the lenses' luminances there correlate at least this well, or both
# vary by at most _FLAT of their mean (a flat patch: sky, wall).
_AGREE, _FLAT = 0.7, 0.03
# Tiles along the seam (per side) over which the seam step is measured.
_STEP_TILES = 32
#: Fall-off shapes (c2, c4, c6): s = c2 rho^2 + c4 rho^4 + c6 rho^6; the first is the prior.
SHAPES: tuple[tuple[float, float, float], ...] = (
    (1 / 3, 2 / 3, 0.0),
    (1.0, 0.0, 0.0),
    (0.5, 0.5, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.5, 0.5),
    (0.0, 0.0, 1.0),
)
# A shape other than the prior must beat it by this t statistic over the seam's tiles.
_SHAPE_T = -3.0


@dataclass(frozen=True, slots=True)
class VignetteFit:
    """Outcome of :func:`fit_vignetting`.

    ``geometry`` is the input's with both lenses' Hugin vb/vc/vd set (unchanged when the
    profile published them); ``gains`` are per-lens, per-channel (B, G, R) linear-light
    factors, each lens moving half way in log terms. Steps are the two lenses'
    systematic disagreement over the overlap band (see :func:`_step`), in percent, with
    the frame as recorded (``step_before_pct``) and corrected (``step_after_pct``).
    """

    geometry: Geometry
    gains: tuple[np.ndarray, np.ndarray]
    rim_falloff: float  # V - 1 at the rim (-0.4: 60 % at the rim); the profile's: its own
    fitted: bool  # False: the profile's vignetting was kept, only gains were fitted
    step_before_pct: float
    step_after_pct: float
    residual_pct: float  # robust spread of the bins' residuals
    bins: int
    sigma: float = 0.0  # formal standard error of rim_falloff (0 when not fitted)
    step_after_sigma_pct: float = math.nan  # standard error of step_after_pct
    # The rim fall-off fitted on each quarter of the seam alone (same shape): their spread
    # is the honest uncertainty (bins along the seam share parallax and misalignment).
    quarters: tuple[float, ...] = ()
    shape: tuple[float, float, float] = SHAPES[0]  # fitted: (c2, c4, c6) of the fall-off

    def record(self) -> dict[str, object]:
        """JSON-able summary for a stitch's details."""
        lenses = [
            {k: round(float(getattr(g.lens, k)), 5) for k in ("vb", "vc", "vd")}
            for g in self.geometry.lenses
        ]
        return {
            "source": "fitted" if self.fitted else "profile",
            "rim_gain": [round(1.0 + f, 4) for f in _rim_falloffs(self.geometry)],
            "lenses": lenses,
            "residual_pct": round(self.residual_pct, 2),
            "bins": self.bins,
            "rim_gain_sigma": round(self.sigma, 4),
            "rim_gain_quarters": [round(1.0 + q, 3) for q in self.quarters],
            "shape_rho2_rho4_rho6": [round(c, 3) for c in self.shape] if self.fitted else None,
        }


def fit_vignetting(img: np.ndarray, geometry: Geometry, *, fit: bool | None = None) -> VignetteFit:
    """Fit the lenses' shared radial fall-off and the gains between them from the overlap.

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR dual-fisheye frame.
    geometry:
        Its geometry (after seam refinement: the band must line up).
    fit:
        Fit the fall-off (True) or keep the lenses' vb/vc/vd and fit gains only (False);
        default: fit when neither lens has vignetting figures.

    Returns
    -------
    VignetteFit
        With too few usable bins (a black or clipped band), no vignetting and unit gains.
    """
    if fit is None:
        fit = not any(g.lens.has_vignetting for g in geometry.lenses)
    strip0, strip1, valid, _ = seam_strips(img, geometry)
    r2_0, r2_1 = _strip_radii(geometry)
    bins = _bin(strip0, strip1, valid, r2_0, r2_1)
    if bins is None:
        return _nothing(geometry)
    d, n, r0, r1, side, tile = bins
    q0, q1 = (g.radius / g.vignetting_norm for g in geometry.lenses)
    shape = SHAPES[0]
    quarters: tuple[float, ...] = ()
    if fit:
        shape, v, sigma = _choose_shape(d, n, r0 / q0**2, r1 / q1**2, side, tile)
        v = float(np.clip(round(v / _V_STEP) * _V_STEP, _V_MIN, _V_MAX))
        s0, s1 = _shape(r0 / q0**2, shape), _shape(r1 / q1**2, shape)
        quarters = tuple(
            _solve(d[part], n[part], s0[part], s1[part])[0]
            for part in (tile * 4 // _STEP_TILES == k for k in range(4))
            if part.sum() >= 20
        )
        model = np.log1p(v * s0) - np.log1p(v * s1)
        a, scale = _gains_only(d - model[:, None], n)
        out = _with_falloff(geometry, v, shape) if v != 0.0 else geometry
    else:
        model = _log_v(geometry.lenses[0], r0) - _log_v(geometry.lenses[1], r1)
        a, scale = _gains_only(d - model[:, None], n)
        v, sigma, out = _rim_falloffs(geometry)[0], 0.0, geometry
    ratio = np.exp(np.clip(a, math.log(0.25), math.log(4.0)))
    residual = d - model[:, None] - a[None, :]
    after, after_sigma = _step(residual, side, tile)
    return VignetteFit(
        geometry=out,
        gains=(1.0 / np.sqrt(ratio), np.sqrt(ratio)),
        rim_falloff=v,
        fitted=bool(fit),
        step_before_pct=_step(d, side, tile)[0],
        step_after_pct=after,
        step_after_sigma_pct=after_sigma,
        residual_pct=100.0 * math.expm1(scale),
        bins=len(n),
        sigma=sigma,
        shape=shape,
        quarters=quarters,
    )


def _nothing(geometry: Geometry) -> VignetteFit:
    ones = np.ones(3)
    return VignetteFit(geometry, (ones, ones.copy()), 0.0, False, math.nan, math.nan, math.nan, 0)


def _shape(rho2: np.ndarray, shape: tuple[float, float, float]) -> np.ndarray:
    """A fall-off shape at rho^2, 0 at the centre and 1 at the rim (rho = 1)."""
    c2, c4, c6 = shape
    return rho2 * (c2 + rho2 * (c4 + rho2 * c6))


def _choose_shape(
    d: np.ndarray,
    n: np.ndarray,
    rho2_0: np.ndarray,
    rho2_1: np.ndarray,
    side: np.ndarray,
    tile: np.ndarray,
) -> tuple[tuple[float, float, float], float, float]:
    """The shape of :data:`SHAPES` the band supports, its rim fall-off and standard error.

    Each shape is fitted; one beats the prior when its Huber loss is lower tile by tile
    along the seam (per tile and side, summed over bins and channels) with a paired t
    statistic below -3: bins within a tile share their errors (parallax, a misaligned
    edge), so tiles, not bins, are the independent samples.
    """
    fits = []
    for shape in SHAPES:
        s0, s1 = _shape(rho2_0, shape), _shape(rho2_1, shape)
        v, a, sigma, scale = _solve(d, n, s0, s1)
        r = d - a - (np.log1p(v * s0) - np.log1p(v * s1))[:, None]
        fits.append((shape, v, sigma, r, scale))
    cut = _HUBER * fits[0][4]
    key = tile * 2 + side.astype(np.int64)
    blocks = []
    for *_, r, _ in fits:
        e = np.abs(r)
        loss = np.where(e < cut, 0.5 * e * e, cut * e - 0.5 * cut * cut).sum(axis=1)
        blocks.append(np.bincount(key, weights=loss, minlength=2 * _STEP_TILES))
    seen = np.bincount(key, minlength=2 * _STEP_TILES) > 0
    best, best_t = 0, _SHAPE_T
    for k in range(1, len(fits)):
        diff = (blocks[k] - blocks[0])[seen]
        spread = float(diff.std(ddof=1)) if diff.size > 2 else 0.0
        if spread <= 0.0:
            continue
        t = float(diff.mean()) / (spread / math.sqrt(diff.size))
        if t < best_t:
            best, best_t = k, t
    shape, v, sigma, _, _ = fits[best]
    return shape, v, sigma


def _with_falloff(geometry: Geometry, v: float, shape: tuple[float, float, float]) -> Geometry:
    """``geometry`` with both lenses' Hugin vb/vc/vd giving rim fall-off ``v`` in ``shape``."""
    c2, c4, c6 = shape
    lenses = []
    for g in geometry.lenses:
        q2 = (g.radius / g.vignetting_norm) ** 2
        lens = replace(g.lens, vb=v * c2 / q2, vc=v * c4 / q2**2, vd=v * c6 / q2**3)
        lenses.append(replace(g, lens=lens))
    return Geometry(lenses=(lenses[0], lenses[1]), size=geometry.size)


def _log_v(geo: LensGeometry, r2: np.ndarray) -> np.ndarray:
    """log of a lens's Hugin fall-off at Hugin-normalised R^2, clipped as the render does."""
    lens = geo.lens
    v = 1.0 + r2 * (lens.vb + r2 * (lens.vc + r2 * lens.vd))
    return np.log(np.clip(v, 0.2, 1.0))


def _rim_falloffs(geometry: Geometry) -> tuple[float, float]:
    """V - 1 at each lens's rim, from its vb/vc/vd."""
    out = []
    for g in geometry.lenses:
        r2 = np.array([(g.radius / g.vignetting_norm) ** 2])
        out.append(float(np.expm1(_log_v(g, r2))[0]))
    return out[0], out[1]


@lru_cache(maxsize=8)
def _strip_radii(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Hugin-normalised R^2 of every seam-strip pixel in lens 0 and in lens 1.

    A frame-sized image of R^2 (from lens 0's centre right of the split, lens 1's left
    of it) sampled through the strips' own maps, so the radii match the strips exactly.
    """
    w, h = geometry.size
    g0, g1 = geometry.lenses
    split = int(round((g0.centre[0] + g1.centre[0]) / 2.0))
    r2 = np.empty((h, w), dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None] + 0.5
    for g, cols in ((g0, slice(split, w)), (g1, slice(0, split))):
        xs = np.arange(w, dtype=np.float32)[cols][None, :] + 0.5
        norm2 = np.float32(g.vignetting_norm**2)
        r2[:, cols] = (
            (xs - np.float32(g.centre[0])) ** 2 + (ys - np.float32(g.centre[1])) ** 2
        ) / norm2
    a, b, _, _ = seam_strips(r2, geometry)
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def _bin(
    strip0: np.ndarray, strip1: np.ndarray, valid: np.ndarray, r2_0: np.ndarray, r2_1: np.ndarray
) -> tuple[np.ndarray, ...] | None:
    """Per-bin log ratio of the lenses' linear-light sums, pixel counts, mean R^2 per lens,
    the side of the seam (True: lens 0's) and the along-seam step tile.

    Returns None with fewer than 50 usable bins.
    """
    rows, cols = valid.shape
    both = np.concatenate([strip0, strip1], axis=2)
    ok = valid & (both.min(axis=2) >= _DARK) & (both.max(axis=2) <= _BRIGHT)
    used_rows = np.flatnonzero(valid.any(axis=1))
    if used_rows.size < 2 or ok.sum() < 1000:
        return None
    top, bottom = int(used_rows[0]), int(used_rows[-1]) + 1
    across = np.clip(
        (np.arange(rows) - top) * _BINS_ACROSS // max(1, bottom - top), 0, _BINS_ACROSS - 1
    )
    along = np.arange(cols) * _BINS_ALONG // cols
    index = (across[:, None] * _BINS_ALONG + along[None, :])[ok]
    size = _BINS_ALONG * _BINS_ACROSS

    def sums(values: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=values, minlength=size)

    n = sums(np.ones(index.size))
    lin0, lin1 = _LINEAR[strip0[ok]], _LINEAR[strip1[ok]]
    s0 = np.stack([sums(lin0[:, c]) for c in range(3)], axis=1)
    s1 = np.stack([sums(lin1[:, c]) for c in range(3)], axis=1)
    m0, m1 = sums(r2_0[ok]), sums(r2_1[ok])
    full = (bottom - top) * cols / size
    keep = (n >= 0.5 * full) & (s0.min(axis=1) > 0) & (s1.min(axis=1) > 0)
    keep &= _agree(sums, lin0.mean(axis=1), lin1.mean(axis=1), np.maximum(n, 1.0))
    if keep.sum() < 50:
        return None
    # Rows run against t (row 0 is towards lens 0's axis): the upper half is lens 0's side.
    bin_across = np.arange(size) // _BINS_ALONG
    centre_row = (rows - 1) / 2.0
    row_of_bin = top + (bin_across + 0.5) * (bottom - top) / _BINS_ACROSS
    side = row_of_bin < centre_row
    tile = (np.arange(size) % _BINS_ALONG) * _STEP_TILES // _BINS_ALONG
    d = np.log(s0[keep]) - np.log(s1[keep])
    nk = n[keep]
    return d, nk, m0[keep] / nk, m1[keep] / nk, side[keep], tile[keep]


def _agree(
    sums: Callable[[np.ndarray], np.ndarray], y0: np.ndarray, y1: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """bool per bin: both lenses show the same thing there (up to a gain).

    Their luminances correlate (vignetting and exposure only scale them), or both are
    flat. Drops bins where something close to the camera shows parallax, or a lens sees
    its own body or flare the other does not.
    """
    m0, m1 = sums(y0) / n, sums(y1) / n
    v0 = np.maximum(sums(y0 * y0) / n - m0 * m0, 0.0)
    v1 = np.maximum(sums(y1 * y1) / n - m1 * m1, 0.0)
    c = sums(y0 * y1) / n - m0 * m1
    flat = (v0 <= (_FLAT * m0) ** 2) & (v1 <= (_FLAT * m1) ** 2)
    return flat | (c >= _AGREE * np.sqrt(v0 * v1))


def _robust_scale(r: np.ndarray) -> float:
    return max(1e-4, 1.4826 * float(np.median(np.abs(r - np.median(r)))))


def _solve(
    d: np.ndarray, n: np.ndarray, s0: np.ndarray, s1: np.ndarray
) -> tuple[float, np.ndarray, float, float]:
    """Huber IRLS / Gauss-Newton for (rim fall-off v, per-channel log gain a).

    Returns (v, a (3,), standard error of v, robust residual scale).
    """
    v, a = 0.0, np.median(d, axis=0)
    base = np.sqrt(n / n.mean())[:, None] * np.ones((1, 3))
    w = base.copy()
    scale = _robust_scale(d - a)
    sigma = 0.0
    for _ in range(20):
        model = np.log1p(v * s0) - np.log1p(v * s1)
        jv = s0 / (1.0 + v * s0) - s1 / (1.0 + v * s1)
        r = d - a - model[:, None]
        scale = _robust_scale(r)
        w = base * np.minimum(1.0, _HUBER * scale / np.maximum(np.abs(r), 1e-12))
        # Normal equations in (a_0, a_1, a_2, dv), with the prior on v (in units of scale).
        h = np.zeros((4, 4))
        g = np.zeros(4)
        for c in range(3):
            h[c, c] = w[:, c].sum()
            h[c, 3] = h[3, c] = (w[:, c] * jv).sum()
            h[3, 3] += (w[:, c] * jv * jv).sum()
            g[c] = (w[:, c] * r[:, c]).sum()
            g[3] += (w[:, c] * jv * r[:, c]).sum()
        prior = (scale / _PRIOR) ** 2
        h[3, 3] += prior
        g[3] -= prior * v
        step = np.linalg.solve(h, g)
        a = a + step[:3]
        v_new = float(np.clip(v + step[3], _V_MIN, _V_MAX))
        done = abs(v_new - v) < 1e-5 and np.abs(step[:3]).max() < 1e-6
        v = v_new
        sigma = float(scale * math.sqrt(max(np.linalg.inv(h)[3, 3], 0.0)))
        if done:
            break
    return v, a, sigma, scale


def _gains_only(r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, float]:
    """Huber location per channel of ``r`` (bins, 3), and the residual scale."""
    base = np.sqrt(n / n.mean())[:, None]
    a = np.median(r, axis=0)
    scale = _robust_scale(r - a)
    for _ in range(10):
        e = r - a
        scale = _robust_scale(e)
        w = base * np.minimum(1.0, _HUBER * scale / np.maximum(np.abs(e), 1e-12))
        a = a + (w * e).sum(axis=0) / w.sum(axis=0)
    return a, scale


def _step(r: np.ndarray, side: np.ndarray, tile: np.ndarray) -> tuple[float, float]:
    """The lenses' systematic disagreement on either side of the seam, and its standard
    error, in percent.

    Per tile along the seam and side of it, the median of its bins' residuals (averaged
    over channels); per side, the median over its tiles; the larger of the two sides.
    A step from exposure or vignetting has one sign all along a side of the seam, where
    parallax of things close to the camera (or one lens seeing its own rim) changes sign
    from tile to tile: medians keep the first and drop the second, and the tiles' spread
    says how well the step is known (the standard error of a median, from their MAD).
    """
    e = r.mean(axis=1)
    worst, error = math.nan, math.nan
    for which in (False, True):
        per = np.array(
            [
                float(np.median(e[(tile == k) & (side == which)]))
                for k in np.unique(tile[side == which])
            ]
        )
        if per.size:
            found = abs(float(np.median(per)))
            if not worst >= found:
                mad = float(np.median(np.abs(per - np.median(per))))
                worst, error = found, 1.253 * 1.4826 * mad / math.sqrt(per.size)
    return 100.0 * math.expm1(worst), 100.0 * error * math.exp(worst)
