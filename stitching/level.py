"""Is the horizon level? The residual tilt after a levelling, read from the image itself.

The check of every scene version: :mod:`stitching.upright` finds the vertical from the
straight lines of the whole sphere (walls, door frames, posts and window edges are
vertical in the world); seen through the levelling rotation applied at publish time it
should be the levelled frame's up, (0, 1, 0). The angle between the two is the residual
tilt. The candidate nearest the levelled up is preferred (a levelling from a pose is
usually right to a few degrees), so a camera on its side whose pose said so reads level,
and one whose pose did not reads 90 deg off when the scene says so clearly.

A texture-free or line-free scene (a sky, a forest) gives few or scattered lines and a
low confidence: the estimate is then a record, not a verdict.

Pure array code; conventions (directions, rotations) of :mod:`stitching.sphere`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stitching.sphere import as_rotation
from stitching.upright import Structure, UpEstimate, decide_up, find_structure

_UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True, slots=True)
class LevelEstimate:
    """The measured tilt of a panorama's horizon.

    ``tilt_deg`` is the angle between the true up and the panorama's up (None when no
    line was found); ``pitch_deg``/``roll_deg`` are the GPano-style pose of the measured
    frame (:func:`stitching.sphere.pose_rotation` of them levels it). ``sd_deg`` is the
    standard error of the up direction, ``lines`` the segments on the vertical,
    ``confidence`` 0 (no idea) .. 1, ``sign_decided`` whether the scene said which end of
    the vertical is up (else the end nearer the levelled up is taken).
    """

    tilt_deg: float | None
    pitch_deg: float
    roll_deg: float
    sd_deg: float
    lines: int
    confidence: float
    sign_decided: bool = True


def estimate_level(
    equirect: np.ndarray,
    rotation: np.ndarray | None = None,
    *,
    structure: Structure | None = None,
) -> LevelEstimate:
    """Estimate how far off level an equirect is, as seen through ``rotation``.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR full-sphere equirect.
    rotation:
        3x3 matrix taking a levelled direction to the direction in ``equirect`` (the
        levelling applied at publish time); None = the equirect as it is.
    structure:
        :func:`stitching.upright.find_structure` of ``equirect``, when it was found
        already (the costly part); the rest costs a few milliseconds.

    Returns
    -------
    LevelEstimate
        Of the frame seen through ``rotation``: the residual tilt after that levelling.
    """
    r = as_rotation(rotation)
    found = find_structure(equirect) if structure is None else structure
    est = decide_up(found, _UP if r is None else r @ _UP)
    return level_through(est, r) if found.axes is not None else _unmeasured()


def level_through(est: UpEstimate, rotation: np.ndarray | None) -> LevelEstimate:
    """An up estimate (in the source's frame) as the residual tilt of the levelled frame."""
    up = np.asarray(est.up, dtype=np.float64)
    r = as_rotation(rotation)
    seen = up if r is None else r.T @ up  # the true up, in the levelled frame
    return LevelEstimate(
        tilt_deg=round(math.degrees(math.acos(float(np.clip(seen[1], -1.0, 1.0)))), 2),
        pitch_deg=round(math.degrees(math.asin(float(np.clip(seen[2], -1.0, 1.0)))), 2),
        roll_deg=round(math.degrees(math.atan2(-float(seen[0]), float(seen[1]))), 2),
        sd_deg=est.sd_deg,
        lines=est.lines,
        confidence=est.confidence,
        sign_decided=est.sign_decided,
    )


def _unmeasured() -> LevelEstimate:
    return LevelEstimate(None, 0.0, 0.0, 90.0, 0, 0.0, False)
