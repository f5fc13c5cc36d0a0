"""Bundle adjustment of a rotating head: one focal length, one rotation per frame.

cv2's ray adjuster gives every frame its own focal length; in a ring of frames that
trades focal against yaw and leaves the ring bent by a few tenths of a pixel, which shows
as doubled detail wherever two frames are blended. The frames of a set come from one
lens, so here they share one focal length. Rotations and that focal are refined by
SciPy's trust-region least squares on the distances between matched rays, scaled to
pixels, with a Huber loss so that the few wrong matches that pass the homography test
cannot pull the fit.

Camera axes are OpenCV's (x right, y down, z forward); a rotation maps camera rays to
world rays. Image points are continuous pixel coordinates (pixel centres at +0.5), so
the principal point of a w x h frame is (w / 2, h / 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

MAX_EVALUATIONS = 60


@dataclass(frozen=True, slots=True)
class PairMatches:
    """Matched points of frames ``i`` and ``j``: float64 (m, 2) px each, row k with row k."""

    i: int
    j: int
    a: np.ndarray
    b: np.ndarray


def adjust_rotations(
    rotations: list[np.ndarray],
    focal: float,
    centre: tuple[float, float],
    pairs: list[PairMatches],
    *,
    huber_px: float,
) -> tuple[float, list[np.ndarray]]:
    """Refine the rotations and the shared focal length of a set of frames.

    Parameters
    ----------
    rotations:
        float (3, 3) camera -> world rotation per frame, the starting point; the first
        frame's is held fixed (it fixes the otherwise free global rotation).
    focal:
        Starting focal length, px.
    centre:
        Principal point (cx, cy), px, shared by all frames.
    pairs:
        Matched points of overlapping frames; at least one pair.
    huber_px:
        Ray difference (px, per component) beyond which a match counts linearly rather
        than squared.

    Returns
    -------
    tuple
        (focal px, list of float64 (3, 3) rotations in the order given).
    """
    start = [np.asarray(r, dtype=np.float64) for r in rotations]
    n = len(start)
    first = np.concatenate([np.full(len(p.a), p.i) for p in pairs])
    second = np.concatenate([np.full(len(p.b), p.j) for p in pairs])
    pts_a = np.concatenate([p.a for p in pairs])
    pts_b = np.concatenate([p.b for p in pairs])

    def unpack(x: np.ndarray) -> tuple[float, np.ndarray]:
        # x = (log focal, rotation vector of frames 1..n-1 applied on the camera side).
        rots = np.stack(start)
        for k in range(1, n):
            delta, _ = cv2.Rodrigues(x[3 * k - 2 : 3 * k + 1].reshape(3, 1))
            rots[k] = start[k] @ delta
        return float(x[0]), rots

    def residuals(x: np.ndarray) -> np.ndarray:
        log_f, rots = unpack(x)
        return _residuals(rots, log_f, centre, first, second, pts_a, pts_b)[0].ravel()

    def jacobian(x: np.ndarray) -> np.ndarray:
        log_f, rots = unpack(x)
        _, rays_a, rays_b = _residuals(rots, log_f, centre, first, second, pts_a, pts_b)
        return _jacobian(rots, log_f, first, second, rays_a, rays_b, n)

    x0 = np.zeros(1 + 3 * (n - 1))
    x0[0] = math.log(focal)
    fit = least_squares(
        residuals,
        x0,
        jac=jacobian,
        loss="huber",
        f_scale=huber_px,
        x_scale="jac",
        max_nfev=MAX_EVALUATIONS,
    )
    log_f, rots = unpack(fit.x)
    return math.exp(log_f), list(rots)


def _rays(pts: np.ndarray, focal: float, centre: tuple[float, float]) -> np.ndarray:
    d = np.column_stack(
        [(pts[:, 0] - centre[0]) / focal, (pts[:, 1] - centre[1]) / focal, np.ones(len(pts))]
    )
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _residuals(
    rots: np.ndarray,
    log_f: float,
    centre: tuple[float, float],
    first: np.ndarray,
    second: np.ndarray,
    pts_a: np.ndarray,
    pts_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 (m, 3) ray differences in px, camera rays of a, camera rays of b)."""
    f = math.exp(log_f)
    rays_a, rays_b = _rays(pts_a, f, centre), _rays(pts_b, f, centre)
    world_a = np.einsum("mij,mj->mi", rots[first], rays_a)
    world_b = np.einsum("mij,mj->mi", rots[second], rays_b)
    return f * (world_a - world_b), rays_a, rays_b


def _jacobian(
    rots: np.ndarray,
    log_f: float,
    first: np.ndarray,
    second: np.ndarray,
    rays_a: np.ndarray,
    rays_b: np.ndarray,
    n: int,
) -> np.ndarray:
    """float64 (3m, 1 + 3(n - 1)): d residual / d (log focal, rotation of frames 1..n-1).

    A rotation is perturbed on the camera side, R exp([w]x), so d(R d)/dw = -R [d]x. The
    residual is f (R_a d_a - R_b d_b) with unit rays d = u / |u|, u = ((p - c) / f, 1):
    d u / d log f = -(u - z), z = (0, 0, 1), and d d = (I - d d^T) d u / |u|.
    """
    m = len(first)
    f = math.exp(log_f)
    jac = np.zeros((m, 3, 1 + 3 * (n - 1)))
    jac[:, :, 0] = f * (
        np.einsum("mij,mj->mi", rots[first], rays_a + _ray_log_f(rays_a))
        - np.einsum("mij,mj->mi", rots[second], rays_b + _ray_log_f(rays_b))
    )
    block_a = -f * np.einsum("mij,mjk->mik", rots[first], _cross(rays_a))
    block_b = f * np.einsum("mij,mjk->mik", rots[second], _cross(rays_b))
    rows = np.arange(m)
    for frames, block in ((first, block_a), (second, block_b)):
        moving = frames > 0
        cols = 1 + 3 * (frames[moving] - 1)
        for c in range(3):
            jac[rows[moving], :, cols + c] += block[moving, :, c]
    return jac.reshape(3 * m, -1)


def _ray_log_f(d: np.ndarray) -> np.ndarray:
    """float64 (m, 3): d (unit ray) / d log f for unit rays ``d``."""
    # u = d / d_z, so |u| = 1 / d_z and u - z = (d - d_z z) / d_z.
    dz = d[:, 2:3]
    du = -(d - dz * np.array([0.0, 0.0, 1.0])) / dz
    along = np.sum(d * du, axis=1, keepdims=True)
    return (du - along * d) * dz


def _cross(v: np.ndarray) -> np.ndarray:
    """float64 (m, 3, 3): the cross-product matrix of each row of ``v``."""
    out = np.zeros((len(v), 3, 3))
    out[:, 0, 1], out[:, 0, 2] = -v[:, 2], v[:, 1]
    out[:, 1, 0], out[:, 1, 2] = v[:, 2], -v[:, 0]
    out[:, 2, 0], out[:, 2, 1] = -v[:, 1], v[:, 0]
    return out
