"""The perspective views face detection runs on, and their remap maps into the equirect.

The six cube faces (90 deg, the poles are the centres of ``u`` and ``d``) and twelve narrow
views centred on the cube edges, 90 deg along the edge and 53 deg across it. Distant, small
faces can only be near the horizon, so the views there are sharper than those towards the
poles (:func:`detection_views`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from stitching.privacy.detector import Detection
from stitching.privacy.regions import FaceRegion, enclosing_region, view_frame
from stitching.sphere import equirect_coords, fixed_point_maps

#: Default side in px of the views on the horizon; see :func:`stitching.privacy.blur_faces`
#: for what it finds.
DEFAULT_VIEW_SIZE = 896
#: Side in px of the views away from the horizon: half the horizon's, but at least this
#: (3.9 px per degree at their centres; a face within a metre of the lens is 10 deg high).
MIN_POLAR_VIEW_SIZE = 448


@dataclass(frozen=True, slots=True)
class View:
    """A perspective view: its frame (rows right, up, forward), half-extents as tangents."""

    name: str
    frame: np.ndarray
    half_x: float
    half_y: float
    width: int
    height: int
    focal: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "focal", self.width / (2.0 * self.half_x))

    def rays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, z) world components of every pixel centre, float32 (height, width)."""
        a = ((np.arange(self.width) + 0.5) / self.focal - self.half_x).astype(np.float32)
        b = (self.half_y - (np.arange(self.height) + 0.5) / self.focal).astype(np.float32)
        m = self.frame.astype(np.float32)
        x, y, z = (a[None, :] * m[0, k] + (b[:, None] * m[1, k] + m[2, k]) for k in range(3))
        return x, y, z

    def region(self, det: Detection) -> FaceRegion:
        """The sphere region a box in this view covers."""
        xs = np.array([det.x0, det.x1, det.x1, det.x0, (det.x0 + det.x1) / 2])
        ys = np.array([det.y0, det.y0, det.y1, det.y1, (det.y0 + det.y1) / 2])
        a = xs / self.focal - self.half_x
        b = self.half_y - ys / self.focal
        dirs = a[:, None] * self.frame[0] + b[:, None] * self.frame[1] + self.frame[2]
        return enclosing_region(dirs[4], dirs[:4], det.score, "detector")


def detection_views(size: int) -> list[View]:
    """The six cube faces and the twelve edge views, for a horizon face side of ``size`` px.

    Views away from the horizon (``u``, ``d`` and the edges at pitch +-45 deg) get half
    the resolution, down to :data:`MIN_POLAR_VIEW_SIZE`: seen from a tripod at eye level, a
    face more than 30 deg above or below the horizon is within about a metre of the lens,
    so it is large. Small, distant faces are all near the horizon, where views are sharpest.
    """
    polar = min(size, max(_round64(size / 2), MIN_POLAR_VIEW_SIZE))
    views = [
        View(name, view_frame(yaw, 0.0), 1.0, 1.0, size, size)
        for name, yaw in (("f", 0.0), ("r", 90.0), ("b", 180.0), ("l", -90.0))
    ]
    views += [
        View(name, view_frame(0.0, pitch), 1.0, 1.0, polar, polar)
        for name, pitch in (("u", 90.0), ("d", -90.0))
    ]
    for i, name in enumerate(("f|r", "r|b", "b|l", "l|f")):
        views.append(View(name, view_frame(45.0 + 90.0 * i, 0.0), 0.5, 1.0, size // 2, size))
    for i, side in enumerate("frbl"):
        for pole, pitch in (("u", 45.0), ("d", -45.0)):
            frame = view_frame(90.0 * i, pitch)
            views.append(View(f"{side}|{pole}", frame, 1.0, 0.5, polar, polar // 2))
    return views


@functools.lru_cache(maxsize=2)
def view_maps(work_width: int, size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Fixed-point remap maps of every view into a ``work_width`` equirect (36 MB at 896)."""
    out = []
    for view in detection_views(size):
        col, row = equirect_coords(*view.rays(), work_width, work_width // 2)
        out.append(fixed_point_maps(col, row, work_width // 2))
    return tuple(out)


def choose_view_size(view_size: int | None, width: int) -> int:
    """Side in px of the horizon views for a ``width`` px equirect (see ``blur_faces``).

    None = :data:`DEFAULT_VIEW_SIZE`, or the equirect's quarter width if smaller; a given
    size is rounded to a multiple of 64. ValueError below 64.
    """
    if view_size is None:
        # A face view wider than the equirect's own quarter adds pixels but no detail.
        return max(64, min(DEFAULT_VIEW_SIZE, width // 4 // 64 * 64))
    if view_size < 64:
        raise ValueError(f"view_size must be at least 64 px, got {view_size}")
    return _round64(view_size)


def _round64(size: float) -> int:
    """Nearest multiple of 64 (at least 64): half a view is then a multiple of 32."""
    return max(64, round(size / 64) * 64)
