"""Find the two fisheye image circles of a dual-fisheye frame.

Each half of the frame is thresholded against the dark border, its largest bright
component is kept, and a circle is fitted to the component's outline. Dark things inside
the picture only dent the outline inwards and light leaking past the rim only bumps it
outwards, so the fit keeps the points close to a first fit's rim and fits again. Points on
the frame's edges are not rim points (circles are often clipped top and bottom) and are
left out.
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
