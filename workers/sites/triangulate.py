"""Where a point of interest is, from the bearings of two or more placed scenes that see it.

Each scene contributes a ray on the floor: from its plan position, along the compass bearing
``heading + yaw`` of the point in its panorama (turned onto the plan by the floor's north
offset). The point is the least-squares intersection of those lines (the spot whose summed
squared perpendicular distance to them is smallest), in metres on the plan. Pitch is not used:
the rays are horizontal.

It is refused, with a reason, when the rays are near parallel (the widest angle between any
two is under ``min_angle_deg``: the point could be anywhere along them), or when the point
falls behind a scene (a bearing points away from it: a wrong heading or a wrong id).

Quality: ``residual_m`` is the RMS perpendicular distance of the rays from the point (zero
for two rays, which always meet); ``accuracy_m`` adds the scenes' own position accuracy and
the effect of a heading error of ``heading_sigma_deg`` at the rays' length, spread by the
intersection angle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

#: Rays closer than this to parallel do not fix a point.
DEFAULT_MIN_ANGLE_DEG: Final = 10.0
#: Assumed error of a scene's heading, degrees (sidecar compass or hand placement).
DEFAULT_HEADING_SIGMA_DEG: Final = 2.0


@dataclass(frozen=True, slots=True)
class Ray:
    """A scene's bearing to the point: plan pixels and a plan direction.

    ``plan_deg`` is clockwise from plan-up (x right, y down).
    """

    scene: str
    x_px: float
    y_px: float
    plan_deg: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class Triangulated:
    """The intersection in plan pixels, with its quality in metres."""

    x_px: float
    y_px: float
    residual_m: float
    accuracy_m: float
    angle_deg: float


class TriangulationRefused(ValueError):
    """The rays do not fix a point; the message says why."""


def triangulate(
    rays: Sequence[Ray],
    scale_px_per_m: float,
    *,
    min_angle_deg: float = DEFAULT_MIN_ANGLE_DEG,
    heading_sigma_deg: float = DEFAULT_HEADING_SIGMA_DEG,
) -> Triangulated:
    """Intersect two or more rays on one floor.

    Parameters
    ----------
    rays:
        At least two, from different plan positions.
    scale_px_per_m:
        The floor's plan pixels per metre.

    Returns
    -------
    Triangulated
        Plan pixels of the point, its residual and expected accuracy (metres) and the widest
        angle between two rays (degrees, 0..90).

    Raises
    ------
    TriangulationRefused
        Fewer than two rays, near-parallel rays, or the point behind a scene.
    """
    if len(rays) < 2:
        raise TriangulationRefused(f"seen from {len(rays)} placed scene(s); 2 are needed")
    p = np.array([[r.x_px, r.y_px] for r in rays], float) / scale_px_per_m
    angles = np.radians([r.plan_deg for r in rays])
    d = np.column_stack([np.sin(angles), -np.cos(angles)])
    widest = 0.0
    for i in range(len(rays)):
        for j in range(i + 1, len(rays)):
            cross = abs(float(d[i, 0] * d[j, 1] - d[i, 1] * d[j, 0]))
            widest = max(widest, math.degrees(math.asin(min(1.0, cross))))
    names = ", ".join(r.scene for r in rays)
    if widest < min_angle_deg:
        raise TriangulationRefused(
            f"the bearings from {names} are within {widest:.1f}° of parallel (under "
            f"{min_angle_deg:g}°): they do not fix a point; add a scene that sees it from the side"
        )
    projectors = np.eye(2)[None, :, :] - d[:, :, None] * d[:, None, :]
    a = projectors.sum(axis=0)
    b = np.einsum("nij,nj->i", projectors, p)
    q = np.linalg.solve(a, b)
    ahead = np.einsum("ni,ni->n", q[None, :] - p, d)
    for ray, along in zip(rays, ahead, strict=True):
        if along <= 0:
            raise TriangulationRefused(
                f"the bearings meet {abs(along):.1f} m behind scene {ray.scene}: check its "
                "heading, or whether the scenes really see the same point"
            )
    perpendicular = np.einsum("nij,nj->ni", projectors, q[None, :] - p)
    residual = float(np.sqrt(np.mean(np.sum(perpendicular**2, axis=1))))
    reach = float(np.mean(ahead))
    spread = reach * math.tan(math.radians(heading_sigma_deg)) / math.sin(math.radians(widest))
    own = max((r.accuracy_m or 0.0) for r in rays)
    return Triangulated(
        x_px=float(q[0] * scale_px_per_m),
        y_px=float(q[1] * scale_px_per_m),
        residual_m=residual,
        accuracy_m=math.sqrt(residual**2 + spread**2 + own**2),
        angle_deg=widest,
    )
