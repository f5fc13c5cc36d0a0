"""Placement from the head's programme, and the orientation of placed frames.

Rotations here are camera -> world in OpenCV's axes (x right, y down, z forward), as
cv2.detail gives them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stitching.sphere import pose_rotation

#: Matched frames further off the programme than this (deg): it cannot place the rest.
RIG_MISFIT_DEG = 2.0


def rig_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """float64 (3, 3) camera -> world rotation of a head pose, in OpenCV axes (y down).

    :func:`stitching.sphere.pose_rotation` is world -> camera in axes with y up;
    transposed it is camera -> world, and flipping y on both sides gives OpenCV's axes.
    """
    flip = np.diag([1.0, -1.0, 1.0])
    return flip @ pose_rotation(pitch_deg, 0.0, yaw_deg).T @ flip


def place_from_rig(
    rotations: list[np.ndarray], kept: list[int], poses: list[tuple[float, float]]
) -> tuple[list[np.ndarray], float]:
    """Rotations of every position: the estimated ones where matched, the programme's
    (turned onto the matched ones) elsewhere; and the worst matched misfit, deg.

    The turn G minimises sum |R_k - G P_k|^2 over the matched positions k (orthogonal
    Procrustes), R_k estimated and P_k from the programme.
    """
    rig = [rig_rotation(*p) for p in poses]
    u, _, vt = np.linalg.svd(sum(r @ rig[i].T for r, i in zip(rotations, kept, strict=True)))
    turn = u @ np.diag([1.0, 1.0, float(np.linalg.det(u @ vt))]) @ vt
    misfit = max(
        math.degrees(float(np.linalg.norm(cv2.Rodrigues((turn @ rig[i]).T @ r)[0])))
        for r, i in zip(rotations, kept, strict=True)
    )
    by_index = dict(zip(kept, rotations, strict=True))
    return [by_index.get(i, turn @ rig[i]) for i in range(len(poses))], misfit


def level(rotations: list[np.ndarray]) -> list[np.ndarray]:
    """The rotations after cv2's horizontal wave correction (the horizon made straight)."""
    mats = [np.asarray(r, dtype=np.float32) for r in rotations]
    mats = [np.asarray(m) for m in cv2.detail.waveCorrect(mats, cv2.detail.WAVE_CORRECT_HORIZ)]
    return [np.asarray(r, dtype=np.float64) for r in mats]


def yaw_of(r: np.ndarray) -> float:
    """Yaw in radians of a camera's forward axis, + to the right."""
    fwd = r @ np.array([0.0, 0.0, 1.0])
    return math.atan2(fwd[0], fwd[2])


def wrap_deg(deg: float) -> float:
    """An angle in degrees wrapped into [-180, 180)."""
    return (deg + 180.0) % 360.0 - 180.0


def pitch_of(r: np.ndarray) -> float:
    """Pitch in degrees of a camera's forward axis, + up (OpenCV's y points down)."""
    fwd = r @ np.array([0.0, 0.0, 1.0])
    return math.degrees(math.atan2(-fwd[1], math.hypot(fwd[0], fwd[2])))
