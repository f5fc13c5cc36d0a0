"""Is the horizon level? The vertical vanishing point, estimated from the image itself.

Walls, door frames, posts and window edges are vertical in the world. On the four side
faces of the cube (each a 90 deg pinhole view, rendered here from the equirect through the
levelling rotation) such a line segment spans, with the camera centre, a plane that
contains the true up direction; in a level panorama that is (0, 1, 0). So:

1. render faces f, r, b, l at :data:`FACE_PX` and find line segments (cv2's LSD);
2. keep segments longer than :data:`MIN_SEGMENT` of the face and within
   :data:`MAX_LEAN_DEG` of the image vertical, as plane normals weighted by length;
3. the up direction is the one most normals are perpendicular to: a coarse search over
   directions within :data:`MAX_TILT_DEG` of up with a robust score, then a weighted
   least-squares refinement on the inliers;
4. its standard error, from the residual scatter, and the support (inlier segments, faces
   they lie on) give a confidence in 0..1.

A texture-free or line-free scene (a sky, a forest) gives few or scattered lines and a
low confidence: the estimate is then a record, not a verdict. Tilts beyond MAX_TILT_DEG
(a camera on its side) are outside what this measures.

Pure array code; conventions (directions, rotations) of :mod:`stitching.sphere`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stitching.sphere import as_rotation, equirect_coords, fixed_point_maps, remap_wrapped

FACE_PX = 512
#: The equirect is shrunk to this width before the faces are rendered (no aliasing).
WORK_WIDTH = 4 * FACE_PX
#: Segments shorter than this share of the face side are noise.
MIN_SEGMENT = 0.04
#: Segments leaning more than this from the image vertical are not candidate verticals.
MAX_LEAN_DEG = 30.0
#: The search covers up directions this far from the panorama's up.
MAX_TILT_DEG = 25.0
#: A segment is an inlier when its plane misses the up direction by less than this.
INLIER_DEG = 0.75
#: Inlier segments that make an estimate fully supported.
FULL_SUPPORT = 40

_SIDE_YAWS = {"f": 0.0, "r": 90.0, "b": 180.0, "l": -90.0}


@dataclass(frozen=True, slots=True)
class LevelEstimate:
    """The measured tilt of a panorama's horizon.

    ``tilt_deg`` is the angle between the true up and the panorama's up (None when no
    line was found); ``pitch_deg``/``roll_deg`` are the GPano-style pose of the measured
    frame (:func:`stitching.sphere.pose_rotation` of them levels it). ``sd_deg`` is the
    standard error of the up direction, ``lines`` the inlier segments, ``faces`` the cube
    side faces they lie on, ``confidence`` 0 (no idea) .. 1.
    """

    tilt_deg: float | None
    pitch_deg: float
    roll_deg: float
    sd_deg: float
    lines: int
    faces: int
    confidence: float


def estimate_level(equirect: np.ndarray, rotation: np.ndarray | None = None) -> LevelEstimate:
    """Estimate how far off level an equirect is, as seen through ``rotation``.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR full-sphere equirect.
    rotation:
        3x3 matrix taking a levelled direction to the direction in ``equirect`` (the
        levelling applied at publish time); None = the equirect as it is.

    Returns
    -------
    LevelEstimate
        Of the frame seen through ``rotation``: the residual tilt after that levelling.
    """
    normals, weights, faces = _segment_planes(equirect, as_rotation(rotation))
    if len(normals) < 2:
        return LevelEstimate(None, 0.0, 0.0, 0.0, len(normals), len(set(faces.tolist())), 0.0)
    up = _search(normals, weights)
    up, inliers, sd = _refine(normals, weights, up)
    used_faces = len(set(faces[inliers].tolist()))
    count = int(inliers.sum())
    support = min(1.0, count / FULL_SUPPORT) * min(1.0, used_faces / 2)
    precision = max(0.0, 1.0 - sd / 1.0)
    tilt = math.degrees(math.acos(min(1.0, abs(float(up[1])))))
    return LevelEstimate(
        tilt_deg=round(tilt, 2),
        pitch_deg=round(math.degrees(math.asin(float(np.clip(up[2], -1, 1)))), 2),
        roll_deg=round(math.degrees(math.atan2(-float(up[0]), float(up[1]))), 2),
        sd_deg=round(sd, 3),
        lines=count,
        faces=used_faces,
        confidence=round(support * precision, 2),
    )


def _segment_planes(
    equirect: np.ndarray, rotation: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit plane normals (N, 3), weights (N,) and face index (N,) of candidate verticals."""
    h, w = equirect.shape[:2]
    work = equirect
    if w > WORK_WIDTH:
        work = cv2.resize(equirect, (WORK_WIDTH, WORK_WIDTH // 2), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY) if work.ndim == 3 else work
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
    normals, weights, faces = [], [], []
    for index, yaw in enumerate(_SIDE_YAWS.values()):
        basis = _side_basis(yaw)
        face = _render_side(grey, basis, rotation)
        found = lsd.detect(face)[0]
        if found is None:
            continue
        seg = found.reshape(-1, 4).astype(np.float64)
        dx, dy = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
        length = np.hypot(dx, dy)
        keep = (length >= MIN_SEGMENT * FACE_PX) & (
            np.abs(dx) <= math.tan(math.radians(MAX_LEAN_DEG)) * np.abs(dy)
        )
        if not keep.any():
            continue
        seg, length = seg[keep], length[keep]
        p1 = _rays(seg[:, 0], seg[:, 1], basis)
        p2 = _rays(seg[:, 2], seg[:, 3], basis)
        n = np.cross(p1, p2)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        normals.append(n)
        weights.append(length / FACE_PX)
        faces.append(np.full(len(n), index))
    if not normals:
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=int)
    return np.concatenate(normals), np.concatenate(weights), np.concatenate(faces)


def _side_basis(yaw_deg: float) -> np.ndarray:
    """Rows: world direction of +column, of +row (down) and of the face centre."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    return np.array([[c, 0.0, -s], [0.0, -1.0, 0.0], [s, 0.0, c]])


def _rays(x: np.ndarray, y: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """World directions (N, 3) of face pixel coordinates (LSD's: pixel centres at +0.5)."""
    a = (x + 0.5) * (2.0 / FACE_PX) - 1.0
    b = (y + 0.5) * (2.0 / FACE_PX) - 1.0
    return np.stack([a, b, np.ones_like(a)], axis=1) @ basis


def _render_side(grey: np.ndarray, basis: np.ndarray, rotation: np.ndarray | None) -> np.ndarray:
    """One 90 deg side face, FACE_PX square, of the levelled view of ``grey``."""
    t = (np.arange(FACE_PX, dtype=np.float64) + 0.5) * (2.0 / FACE_PX) - 1.0
    m = basis if rotation is None else basis @ rotation.T
    a, b = t[None, :], t[:, None]
    x, y, z = ((a * m[0, k] + (b * m[1, k] + m[2, k])).astype(np.float32) for k in range(3))
    col, row = equirect_coords(x, y, z, grey.shape[1], grey.shape[0])
    return remap_wrapped(grey, fixed_point_maps(col, row, grey.shape[0]))


def _search(normals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The up direction most plane normals are perpendicular to: coarse, then finer."""
    sigma = math.sin(math.radians(1.5))
    best = np.array([0.0, 1.0, 0.0])
    span, step = math.tan(math.radians(MAX_TILT_DEG)), math.tan(math.radians(1.0))
    centre = (0.0, 0.0)
    for _ in range(2):
        ticks = np.arange(-span, span + step / 2, step)
        tx, tz = np.meshgrid(centre[0] + ticks, centre[1] + ticks)
        cand = np.stack([tx.ravel(), np.ones(tx.size), tz.ravel()], axis=1)
        cand /= np.linalg.norm(cand, axis=1, keepdims=True)
        residual = cand @ normals.T
        score = (np.exp(-0.5 * (residual / sigma) ** 2) * weights).sum(axis=1)
        best = cand[int(np.argmax(score))]
        centre = (best[0] / best[1], best[2] / best[1])
        span, step, sigma = 2 * step, step / 8, math.sin(math.radians(INLIER_DEG))
    return best


def _refine(
    normals: np.ndarray, weights: np.ndarray, up: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares up on the inliers, the inlier mask and the standard error (deg)."""
    limit = math.sin(math.radians(INLIER_DEG))
    inliers = np.abs(normals @ up) < limit
    for _ in range(3):
        if inliers.sum() < 2:
            break
        n, w = normals[inliers], weights[inliers]
        _, vectors = np.linalg.eigh((n * w[:, None]).T @ n)
        up = vectors[:, 0] * (1.0 if vectors[1, 0] >= 0 else -1.0)
        inliers = np.abs(normals @ up) < limit
    count = int(inliers.sum())
    if count < 3:
        return up, inliers, 90.0
    n, w = normals[inliers], weights[inliers] / weights[inliers].mean()
    residual = n @ up
    scatter = float((w * residual**2).sum() / max(1.0, w.sum() - 2.0))
    # Tangent-plane basis at up; the information of the fit in those two directions.
    e1 = np.cross(up, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    jac = np.stack([n @ e1, n @ e2], axis=1)
    info = (jac * w[:, None]).T @ jac
    try:
        cov = scatter * np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return up, inliers, 90.0
    sd = math.degrees(math.sqrt(max(0.0, float(np.linalg.eigvalsh(cov).max()))))
    return up, inliers, min(sd, 90.0)
