"""Regions of the sphere to blur: boxes in the plane tangent at their centre.

A :class:`FaceRegion` is a centre (yaw, pitch) and the angular width and height of a box in
the plane tangent to the sphere at the centre, with the box's "up" towards pitch +90 deg.
Here are the frames of such a tangent plane, the box that encloses a set of directions,
boxes seen in another frame (:func:`rotate_region`) and the merging of boxes that overlapping
views found twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: The largest half-angle (radians) a box may reach: beyond this the tangent plane blows up.
MAX_HALF_ANGLE = math.radians(80.0)

Source = Literal["detector", "manual"]


@dataclass(frozen=True, slots=True)
class FaceRegion:
    """A region of the sphere to blur, in degrees.

    ``width_deg`` x ``height_deg`` is the angle the box spans in the plane tangent to the
    sphere at its centre (``yaw_deg``, ``pitch_deg``), its height along the meridian (at a
    pole, the meridian of ``yaw_deg``). ``score`` is the detector's confidence (1.0 for a
    manual region).
    """

    yaw_deg: float
    pitch_deg: float
    width_deg: float
    height_deg: float
    score: float = 1.0
    source: Source = "manual"

    def __post_init__(self) -> None:
        values = (self.yaw_deg, self.pitch_deg, self.width_deg, self.height_deg, self.score)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"face region has a non-finite value: {self}")
        if not -90.0 <= self.pitch_deg <= 90.0:
            raise ValueError(f"face region pitch must be within [-90, 90] deg: {self}")
        if not (0.0 < self.width_deg < 180.0 and 0.0 < self.height_deg < 180.0):
            raise ValueError(f"face region width and height must be in (0, 180) deg: {self}")
        if self.source not in ("detector", "manual"):
            raise ValueError(f"face region source must be 'detector' or 'manual': {self}")


def rotate_region(region: FaceRegion, rotation: np.ndarray) -> FaceRegion:
    """The same region of the sphere seen in another frame, its box grown to stay upright.

    Parameters
    ----------
    rotation:
        3x3 matrix taking a direction in the region's frame to the target frame, e.g.
        :func:`stitching.sphere.pose_rotation` (levelled -> source) for a manual region
        given in the published, levelled scene.

    Returns
    -------
    FaceRegion
        Centred on the rotated centre; a rolled box is replaced by the upright box that
        contains it, so the region only ever grows.
    """
    r = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    corners = _corners(region) @ r.T
    centre = r @ view_frame(region.yaw_deg, region.pitch_deg)[2]
    return enclosing_region(centre, corners, region.score, region.source)


def view_frame(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rows: the right, up and forward unit vectors of a view centred at (yaw, pitch) deg.

    float64 (3, 3); "up" is towards pitch +90 deg (at a pole, along the meridian of yaw).
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    return np.array(
        [[cy, 0.0, -sy], [-sp * sy, cp, -sp * cy], [cp * sy, sp, cp * cy]], dtype=np.float64
    )


def _yaw_pitch(direction: np.ndarray) -> tuple[float, float]:
    x, y, z = (float(v) for v in direction)
    return math.degrees(math.atan2(x, z)), math.degrees(math.atan2(y, math.hypot(x, z)))


def enclosing_region(
    centre: np.ndarray, points: np.ndarray, score: float, source: Source
) -> FaceRegion:
    """The upright region centred on ``centre`` containing every direction of ``points``."""
    yaw, pitch = _yaw_pitch(centre)
    local = points @ view_frame(yaw, pitch).T
    depth = np.maximum(local[:, 2], 1e-9)  # a point behind the centre: the widest box
    half_x = min(float(np.max(np.abs(local[:, 0]) / depth)), math.tan(MAX_HALF_ANGLE))
    half_y = min(float(np.max(np.abs(local[:, 1]) / depth)), math.tan(MAX_HALF_ANGLE))
    return FaceRegion(
        yaw_deg=yaw,
        pitch_deg=pitch,
        width_deg=max(2.0 * math.degrees(math.atan(half_x)), 1e-3),
        height_deg=max(2.0 * math.degrees(math.atan(half_y)), 1e-3),
        score=score,
        source=source,
    )


def _corners(region: FaceRegion, grow: float = 1.0) -> np.ndarray:
    """World directions of the four corners of a region's box, (4, 3) float64."""
    tx = math.tan(min(math.radians(region.width_deg * grow / 2), MAX_HALF_ANGLE))
    ty = math.tan(min(math.radians(region.height_deg * grow / 2), MAX_HALF_ANGLE))
    local = np.array([[-tx, ty, 1.0], [tx, ty, 1.0], [tx, -ty, 1.0], [-tx, -ty, 1.0]])
    return local @ view_frame(region.yaw_deg, region.pitch_deg)


def _contains(region: FaceRegion, direction: np.ndarray) -> bool:
    x, y, z = view_frame(region.yaw_deg, region.pitch_deg) @ direction
    tx = math.tan(math.radians(region.width_deg / 2))
    ty = math.tan(math.radians(region.height_deg / 2))
    return bool(z > 0 and abs(x) <= tx * z and abs(y) <= ty * z)


def merge_regions(regions: list[FaceRegion]) -> list[FaceRegion]:
    """One region per face: overlapping views find the same face more than once."""
    kept: list[FaceRegion] = []
    for region in sorted(regions, key=lambda r: -r.score):
        centre = view_frame(region.yaw_deg, region.pitch_deg)[2]
        for i, other in enumerate(kept):
            other_centre = view_frame(other.yaw_deg, other.pitch_deg)[2]
            if _contains(other, centre) or _contains(region, other_centre):
                points = np.vstack([_corners(other), _corners(region)])
                kept[i] = enclosing_region(other_centre, points, other.score, other.source)
                break
        else:
            kept.append(region)
    return kept
