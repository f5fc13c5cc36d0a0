"""Straight lines of a panorama as planes, and their vanishing directions.

The geometry half of :mod:`stitching.upright`: the six cube faces of a shrunk equirect are
searched for straight segments (cv2's line segment detector); a segment and the camera
centre span a plane, kept as its unit normal weighted by the segment's length. A
vanishing direction is one many planes contain: :func:`support_scores` measures that
robustly, :func:`refine` fits it by least squares on its inliers, and
:func:`manhattan_axes` finds three at right angles.

Pure array code; conventions of :mod:`stitching.sphere` (x right, y up, z forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from stitching.sphere import equirect_coords, fixed_point_maps, remap_wrapped

#: Cube face side the segments are found on.
FACE_PX = 320
#: Segments shorter than this share of the face side are noise.
MIN_SEGMENT = 0.05
#: A segment supports a direction when its plane misses it by less than this (deg).
SUPPORT_DEG = 2.0
#: Inlier band of the least-squares refinement (deg).
INLIER_DEG = 1.0
#: Segments found below which nothing is decided.
MIN_SEGMENTS = 20
_BASES: dict[str, np.ndarray] = {
    # Rows: direction of +column, of +row (down), of the face centre (stitching.sphere's).
    "f": np.array([[1, 0, 0], [0, -1, 0], [0, 0, 1]], dtype=np.float64),
    "r": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=np.float64),
    "b": np.array([[-1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=np.float64),
    "l": np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], dtype=np.float64),
    "u": np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float64),
    "d": np.array([[1, 0, 0], [0, 0, -1], [0, -1, 0]], dtype=np.float64),
}


@dataclass(frozen=True, slots=True)
class Segments:
    """Straight segments of a panorama as planes: unit normals (N, 3), weights (N,)."""

    normals: np.ndarray
    weights: np.ndarray  # segment length in face sides
    middles: np.ndarray  # (N, 3) unit direction of each segment's middle


def find_segments(work: np.ndarray) -> Segments:
    """Line segments on the six cube faces of a grey (H, 2H) uint8 equirect, as planes.

    The faces are sampled at :data:`FACE_PX` (bilinear): pass an equirect already shrunk to
    about 4-6 face sides wide, as :func:`stitching.upright.find_structure` does.
    """
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
    normals, weights, middles = [], [], []
    maps = _face_maps(work.shape[1], work.shape[0])
    for name, basis in _BASES.items():
        face = remap_wrapped(work, maps[name])
        found = lsd.detect(face)[0]
        if found is None:
            continue
        seg = found.reshape(-1, 4).astype(np.float64)
        length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
        keep = length >= MIN_SEGMENT * FACE_PX
        if not keep.any():
            continue
        seg, length = seg[keep], length[keep]
        p1, p2 = _rays(seg[:, 0], seg[:, 1], basis), _rays(seg[:, 2], seg[:, 3], basis)
        n = np.cross(p1, p2)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        m = p1 / np.linalg.norm(p1, axis=1, keepdims=True)
        m += p2 / np.linalg.norm(p2, axis=1, keepdims=True)
        middles.append(m / np.linalg.norm(m, axis=1, keepdims=True))
        normals.append(n)
        weights.append(length / FACE_PX)
    if not normals:
        return Segments(np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)))
    return Segments(np.concatenate(normals), np.concatenate(weights), np.concatenate(middles))


@cache
def _face_maps(width: int, height: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    t = (np.arange(FACE_PX, dtype=np.float64) + 0.5) * (2.0 / FACE_PX) - 1.0
    a, b = t[None, :], t[:, None]
    maps = {}
    for name, m in _BASES.items():
        x, y, z = ((a * m[0, k] + (b * m[1, k] + m[2, k])).astype(np.float32) for k in range(3))
        col, row = equirect_coords(x, y, z, width, height)
        maps[name] = fixed_point_maps(col, row, height)
    return maps


def _rays(x: np.ndarray, y: np.ndarray, basis: np.ndarray) -> np.ndarray:
    a = (x + 0.5) * (2.0 / FACE_PX) - 1.0
    b = (y + 0.5) * (2.0 / FACE_PX) - 1.0
    return np.stack([a, b, np.ones_like(a)], axis=1) @ basis


@cache
def _sphere_grid(count: int = 2500) -> np.ndarray:
    """Near-uniform unit directions over the upper half (y >= 0) of the sphere."""
    i = np.arange(count) + 0.5
    y = i / count  # uniform in y on [0, 1]: equal areas
    r = np.sqrt(1.0 - y * y)
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=1)


def support_scores(cand: np.ndarray, seg: Segments, band_deg: float = SUPPORT_DEG) -> np.ndarray:
    """Robust support of each candidate direction (M, 3): weighted segments through it."""
    tau = np.float32(math.sin(math.radians(band_deg)))
    c = cand.astype(np.float32) / tau
    n = seg.normals.astype(np.float32)
    # Three broadcast products, not a matmul: BLAS is slower on so thin a matrix (threads).
    d = c[:, 0:1] * n[:, 0] + c[:, 1:2] * n[:, 1] + c[:, 2:3] * n[:, 2]
    d *= d
    np.subtract(np.float32(1.0), d, out=d)
    np.maximum(d, np.float32(0.0), out=d)
    return np.einsum("ij,j->i", d, seg.weights.astype(np.float32))


def refine(seg: Segments, v: np.ndarray) -> np.ndarray:
    """Weighted least-squares direction on the inliers of ``v`` (same hemisphere)."""
    limit = math.sin(math.radians(INLIER_DEG))
    for _ in range(3):
        inl = np.abs(seg.normals @ v) < limit
        if inl.sum() < 3:
            break
        n, w = seg.normals[inl], seg.weights[inl]
        _, vectors = np.linalg.eigh((n * w[:, None]).T @ n)
        new = vectors[:, 0]
        v = new if float(new @ v) >= 0 else -new
    return v / np.linalg.norm(v)


def local_best(seg: Segments, v: np.ndarray, span_deg: float, step_deg: float) -> np.ndarray:
    """Best direction on a small tangent-plane grid around ``v``."""
    e1, e2 = tangents(v)
    ticks = np.tan(np.radians(np.arange(-span_deg, span_deg + step_deg / 2, step_deg)))
    ta, tb = np.meshgrid(ticks, ticks)
    cand = v[None, :] + ta.reshape(-1, 1) * e1 + tb.reshape(-1, 1) * e2
    cand /= np.linalg.norm(cand, axis=1, keepdims=True)
    return cand[int(np.argmax(support_scores(cand, seg, band_deg=INLIER_DEG)))]


def manhattan_axes(seg: Segments) -> np.ndarray:
    """Three orthonormal vanishing directions (rows), the strongest first."""
    grid = _sphere_grid()
    v1 = grid[int(np.argmax(support_scores(grid, seg)))]
    v1 = refine(seg, local_best(seg, v1, 2.0, 0.25))
    e1, e2 = tangents(v1)
    theta = np.radians(np.arange(0.0, 180.0, 0.5))
    circle = np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2
    # Any horizontal direction is at right angles to the vertical: whichever of the three
    # v1 is, the others lie on its great circle.
    v2 = refine(seg, circle[int(np.argmax(support_scores(circle, seg)))])
    v2 = v2 - (v2 @ v1) * v1
    v2 /= np.linalg.norm(v2)
    return np.stack([v1, v2, np.cross(v1, v2)])


def tangents(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit directions at right angles to unit ``v`` and to each other."""
    e1 = np.cross(v, [0.0, 0.0, 1.0] if abs(v[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(v, e1)


def fit_direction(seg: Segments, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Refined ``up`` (same end), its inlier mask and standard error in degrees."""
    up = refine(seg, up)
    inliers = np.abs(seg.normals @ up) < math.sin(math.radians(INLIER_DEG))
    return up, inliers, residual_sd(seg, up, inliers)


def residual_sd(seg: Segments, up: np.ndarray, inliers: np.ndarray) -> float:
    """Standard error (deg) of a direction fitted to the inlier planes; 90 if unknown."""
    if inliers.sum() < 3:
        return 90.0
    n, w = seg.normals[inliers], seg.weights[inliers] / seg.weights[inliers].mean()
    residual = n @ up
    scatter = float((w * residual**2).sum() / max(1.0, w.sum() - 2.0))
    e1, e2 = tangents(up)
    jac = np.stack([n @ e1, n @ e2], axis=1)
    try:
        cov = scatter * np.linalg.inv((jac * w[:, None]).T @ jac)
    except np.linalg.LinAlgError:
        return 90.0
    return min(90.0, math.degrees(math.sqrt(max(0.0, float(np.linalg.eigvalsh(cov).max())))))
