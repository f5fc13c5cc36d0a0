"""Find the two fisheye image circles of a dual-fisheye frame.

Each half of the frame is thresholded against the dark border, its largest bright
component is kept, and a circle is fitted to the component's outline. Dark things inside
the picture only dent the outline inwards and light leaking past the rim only bumps it
outwards, so the fit keeps the points close to a first fit's rim and fits again. Points on
the frame's edges are not rim points (circles are often clipped top and bottom) and are
left out.

A camera whose lens housing is lit (the Samsung Gear 360 in sunlight) shows a grey band
around its picture that is bright where the sun falls on it and dark elsewhere, so the
bright component bulges towards the light and the first circle comes out too large and off
centre (37 px on the Gear 360 test frame). The circle is therefore refined from the rim
itself: along rays from the first centre, every place where the brightness steps down
into darkness is a candidate, and the circle that the most rays agree on (a RANSAC fit
over the candidates) is the image circle. A lit arc of housing covers part of the rays
only; the picture's own edge drops into darkness all round.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Brightness (max of B, G, R, 0..255) below which a pixel counts as the dark border.
DARK_LEVEL = 28
# Detection runs on a copy whose half-frame is at most this wide: enough for a rim
# within a pixel or two of full resolution at a few milliseconds.
_WORK_HALF_WIDTH = 1024
_MIN_RADIUS_FRACTION = 0.3  # of the half-frame width
_MAX_RADIUS_FRACTION = 0.62
# Rim refinement: rays per circle, the band searched (share of the first radius), the
# smallest step down into darkness (0..255) that is a rim candidate, the tolerance of a
# candidate on a circle (share of the radius, at least 1 px) and the share of the rays
# that must agree on the refined circle for it to replace the first one ...
_RAYS = 720
_BAND = (0.82, 1.04)
_MIN_STEP = 12.0
_ON_CIRCLE = 0.002
_MIN_SUPPORT = 0.25
_BEAT_FIRST = 1.5  # ... and agree this many times better than on the first circle
_RANSAC_TRIES = 600


@dataclass(frozen=True, slots=True)
class Circle:
    """An image circle: centre (x, y) and radius in px, pixel centres at +0.5."""

    x: float
    y: float
    radius: float


def detect_circles(img: np.ndarray) -> tuple[Circle, Circle] | None:
    """The two fisheye circles of a side-by-side dual-fisheye frame, or None.

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR (or (H, W) gray) frame.

    Returns
    -------
    tuple of Circle or None
        (right circle, left circle) in px of ``img``; None unless both halves hold one
        bright disc on a dark border, of similar radius and at about the same height.
    """
    h, w = img.shape[:2]
    if h < 16 or w < 32:
        return None
    scale = min(1.0, _WORK_HALF_WIDTH / (w / 2))
    small = (
        img
        if scale == 1.0
        else cv2.resize(
            img, (max(2, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    )
    gray = cv2.GaussianBlur(small if small.ndim == 2 else small.max(axis=2), (5, 5), 0)
    half = gray.shape[1] // 2
    sx, sy = w / gray.shape[1], h / gray.shape[0]
    found = []
    for left in (half, 0):
        c = _fit_half(gray[:, left : left + half], left)
        if c is None:
            return None
        found.append(Circle(x=c.x * sx, y=c.y * sy, radius=c.radius * sx))
    right, left_c = found
    full = cv2.GaussianBlur(img if img.ndim == 2 else img.max(axis=2), (3, 3), 0)
    right, left_c = (_refine_rim(full, c) for c in (right, left_c))
    if abs(right.radius / left_c.radius - 1.0) > 0.1:
        return None
    if abs(right.y - left_c.y) > 0.1 * right.radius:
        return None
    return right, left_c


def _fit_half(gray: np.ndarray, offset: int) -> Circle | None:
    """Circle in one half (columns from ``offset``), in px of ``gray``'s full frame."""
    h, w = gray.shape
    bright = cv2.morphologyEx(
        (gray > DARK_LEVEL).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    if count < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = (labels == biggest).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len).reshape(-1, 2).astype(np.float64)
    inside = (
        (outline[:, 0] > 1)
        & (outline[:, 0] < w - 2)
        & (outline[:, 1] > 1)
        & (outline[:, 1] < h - 2)
    )
    points = outline[inside]
    if len(points) < 20:
        return None
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    cx, cy, r = _fit(hull)
    for tolerance in (0.05, 0.02, 0.01):
        dist = np.hypot(points[:, 0] - cx, points[:, 1] - cy)
        keep = np.abs(dist - r) < max(1.5, tolerance * r)
        if keep.sum() < 20:
            return None
        cx, cy, r = _fit(points[keep])
    # The contour runs through the outermost bright pixels' centres; the rim is half a
    # pixel further out.
    r += 0.5
    cx += 0.5
    cy += 0.5
    if not (_MIN_RADIUS_FRACTION * w <= r <= _MAX_RADIUS_FRACTION * w):
        return None
    if not (0 <= cx <= w and 0 <= cy <= h):
        return None
    if not _dark_outside(gray, cx, cy, r):
        return None
    return Circle(x=cx + offset, y=cy, radius=r)


def _fit(points: np.ndarray) -> tuple[float, float, float]:
    """Least-squares (Kasa) circle through points (n, 2): centre x, y and radius."""
    x, y = points[:, 0], points[:, 1]
    a = np.column_stack([x, y, np.ones_like(x)])
    rhs = x * x + y * y
    (p, q, s), *_ = np.linalg.lstsq(a, rhs, rcond=None)
    cx, cy = p / 2.0, q / 2.0
    return float(cx), float(cy), float(np.sqrt(max(s + cx * cx + cy * cy, 0.0)))


def _dark_outside(gray: np.ndarray, cx: float, cy: float, r: float) -> bool:
    """Whether most of the half outside the circle is dark border, not picture."""
    h, w = gray.shape
    yy, xx = np.ogrid[:h, :w]
    outside = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 > (r * 1.03) ** 2
    n = int(outside.sum())
    if n < 0.03 * h * w:
        return False
    return float((gray[outside] <= DARK_LEVEL * 2).mean()) > 0.7


def _refine_rim(gray: np.ndarray, first: Circle) -> Circle:
    """The circle most rays from ``first``'s centre see the picture end on (see the module
    doc); ``first`` when too few rays agree. ``gray``: the full-size max-channel frame."""
    cands, angle_of, rays = _rim_candidates(gray, first)
    if len(cands) < 3 or rays == 0:
        return first
    rng = np.random.default_rng(0)
    tol = max(1.0, _ON_CIRCLE * first.radius)
    sector = angle_of * 12 // _RAYS
    best: tuple[int, tuple[float, float, float]] | None = None
    for _ in range(_RANSAC_TRIES):
        pick = rng.choice(len(cands), 3, replace=False)
        if len(set(sector[pick].tolist())) < 3:
            continue
        cx, cy, r = _fit(cands[pick])
        if not (_BAND[0] * first.radius <= r <= _BAND[1] * first.radius):
            continue
        near = np.abs(np.hypot(cands[:, 0] - cx, cands[:, 1] - cy) - r) < tol
        support = len(np.unique(angle_of[near]))
        if best is None or support > best[0]:
            best = (support, (cx, cy, r))
    if best is None or best[0] < _MIN_SUPPORT * rays:
        return first
    cx, cy, r = best[1]
    # The first circle is kept unless the rays clearly agree on another: on a clean rim
    # both are the same circle, and on a soft rim the candidates are too sparse to beat it.
    loose = max(3.0, 2.5 * tol)

    def rays_on(x: float, y: float, radius: float) -> int:
        near = np.abs(np.hypot(cands[:, 0] - x, cands[:, 1] - y) - radius) < loose
        return len(np.unique(angle_of[near]))

    if rays_on(cx, cy, r) < _BEAT_FIRST * rays_on(first.x, first.y, first.radius):
        return first
    for _ in range(3):  # least squares over the agreeing candidates
        near = np.abs(np.hypot(cands[:, 0] - cx, cands[:, 1] - cy) - r) < tol
        if near.sum() < 20:
            return first
        cx, cy, r = _fit(cands[near])
    return Circle(x=cx, y=cy, radius=r)


def _rim_candidates(gray: np.ndarray, c: Circle) -> tuple[np.ndarray, np.ndarray, int]:
    """Places along rays from ``c``'s centre where the brightness steps down into darkness.

    Returns the candidates' (x, y) in px, each one's ray index, and how many rays had
    room for a candidate (rays that leave the frame early have none).
    """
    h, w = gray.shape[:2]
    angles = np.arange(_RAYS) * (2 * np.pi / _RAYS)
    radii = np.arange(_BAND[0] * c.radius, _BAND[1] * c.radius, 1.0)
    a, r = np.meshgrid(angles, radii, indexing="ij")
    mx = (c.x + r * np.cos(a) - 0.5).astype(np.float32)
    my = (c.y + r * np.sin(a) - 0.5).astype(np.float32)
    prof = cv2.remap(gray.astype(np.float32), mx, my, cv2.INTER_LINEAR)
    seen = (mx >= 1) & (mx <= w - 2) & (my >= 1) & (my <= h - 2)
    k = max(2, round(0.006 * c.radius))
    m = len(radii)
    if m < 2 * k + 3:
        return np.zeros((0, 2)), np.zeros(0, np.int64), 0
    csum = np.pad(np.cumsum(prof, axis=1), ((0, 0), (1, 0)))
    j = np.arange(k, m - k)
    inner = (csum[:, j] - csum[:, j - k]) / k  # prof[j-k .. j-1]
    outer = (csum[:, j + k + 1] - csum[:, j + 1]) / k  # prof[j+1 .. j+k]
    ok = seen[:, j - k] & seen[:, j + k]
    step = np.where(ok, inner - outer, 0.0)
    peak = (
        (step[:, 1:-1] >= step[:, :-2])
        & (step[:, 1:-1] > step[:, 2:])
        & (step[:, 1:-1] > _MIN_STEP)
        & (outer[:, 1:-1] <= 2 * DARK_LEVEL)
    )
    ray, col = np.nonzero(peak)
    s0, s1, s2 = (step[ray, col + d] for d in (0, 1, 2))
    den = s0 - 2 * s1 + s2
    off = np.where(np.abs(den) > 1e-6, 0.5 * (s0 - s2) / np.where(den == 0, 1, den), 0.0)
    rad = radii[col + 1 + k] + np.clip(off, -0.5, 0.5)
    th = angles[ray]
    points = np.column_stack([c.x + rad * np.cos(th), c.y + rad * np.sin(th)])
    rays = int(ok.any(axis=1).sum())
    return points, ray.astype(np.int64), rays
