"""The images face detection runs on: the horizon band, perspective views, turned copies.

- :class:`Band`: the equirect's rows near the horizon, wrapped at the seam
  (:func:`band_image`); :mod:`stitching.privacy.search` searches it with the polar views.
- :class:`View`: a perspective (pinhole) view. :func:`detection_views` gives the six cube
  faces (90 deg, the poles are the centres of ``u`` and ``d``) and twelve narrow views on
  the cube edges, the layout searched at full resolution before the band (it stays the
  benchmark's reference, tests/bench/privacy.py).
- :class:`Turned`: either, turned by quarter turns. CenterFace finds upright faces (a face
  rolled 45 deg scores about half); a capture that is not level (a camera held on its side,
  or upside down under a ceiling) shows its faces rolled, so every image is also searched
  turned by 90, 180 and 270 deg. The turned image is the same pixels rotated: no remap,
  only the detector's time.

Every kind maps points of its image back to directions on the sphere (``directions``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
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

    def directions(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """World directions (n, 3), not unit, of points (x right, y down, continuous px)."""
        a = np.asarray(xs, dtype=np.float64) / self.focal - self.half_x
        b = self.half_y - np.asarray(ys, dtype=np.float64) / self.focal
        return a[..., None] * self.frame[0] + b[..., None] * self.frame[1] + self.frame[2]

    def region(self, det: Detection) -> FaceRegion:
        """The sphere region a box in this view covers."""
        xs = np.array([det.x0, det.x1, det.x1, det.x0, (det.x0 + det.x1) / 2])
        ys = np.array([det.y0, det.y0, det.y1, det.y1, (det.y0 + det.y1) / 2])
        a = xs / self.focal - self.half_x
        b = self.half_y - ys / self.focal
        dirs = a[:, None] * self.frame[0] + b[:, None] * self.frame[1] + self.frame[2]
        return enclosing_region(dirs[4], dirs[:4], det.score, "detector")


#: The rolls searched, degrees: every face is within 45 deg of upright in one of them.
ROLLS_DEG = (0, 90, 180, 270)


@dataclass(frozen=True, slots=True)
class Band:
    """The rows of an equirect within ``lat_deg`` of the horizon, wrapped by ``pad`` columns.

    ``ppd`` is its pixels per degree; column ``pad`` is yaw -180 deg, so a face cut by the
    seam is whole in the pad on one side or the other. Near the horizon an equirect hardly
    bends a face (at 45 deg of pitch it is 1.4 times wider), and it has no cube edges, so
    one band sees the whole horizon at a third of the pixels of cube faces and edge views.
    """

    name: str
    ppd: float
    lat_deg: float
    pad: int
    width: int
    height: int

    def directions(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """World directions (n, 3) of points (x right, y down, continuous px) of the band."""
        yaw = np.radians(-180.0 + (np.asarray(xs, dtype=np.float64) - self.pad) / self.ppd)
        pitch = np.radians(self.lat_deg - np.asarray(ys, dtype=np.float64) / self.ppd)
        cos_p = np.cos(pitch)
        return np.stack([cos_p * np.sin(yaw), np.sin(pitch), cos_p * np.cos(yaw)], axis=-1)


def band_image(equirect: np.ndarray, lat_deg: float, pad: int) -> tuple[Band, np.ndarray]:
    """The :class:`Band` of ``equirect`` (uint8 (h, 2h, 3)) within ``lat_deg`` of the horizon."""
    height, width = equirect.shape[:2]
    ppd = width / 360.0
    r0 = max(0, round((90.0 - lat_deg) * ppd))
    r1 = min(height, round((90.0 + lat_deg) * ppd))
    rows = equirect[r0:r1]
    image = np.concatenate([rows[:, width - pad :], rows, rows[:, :pad]], axis=1)
    band = Band("band", ppd, 90.0 - r0 / ppd, pad, image.shape[1], image.shape[0])
    return band, image


@dataclass(frozen=True, slots=True)
class Turned:
    """A view or band as seen in its image turned ``turns`` quarter turns counter-clockwise.

    Its image is :func:`roll_image` of the base's: a face rolled by ``-90 * turns`` deg in
    the base is upright in it.
    """

    base: View | Band
    turns: int

    @property
    def name(self) -> str:
        return f"{self.base.name}@{90 * self.turns}" if self.turns else self.base.name

    @property
    def width(self) -> int:
        return self.base.height if self.turns % 2 else self.base.width

    @property
    def height(self) -> int:
        return self.base.width if self.turns % 2 else self.base.height

    def directions(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """World directions (n, 3) of points of the turned image (x right, y down, px)."""
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        for step in reversed(range(self.turns)):
            # np.rot90 once: a point (x, y) of the turned image was (w - y, x) before,
            # w the width before that turn.
            before = self.base.width if step % 2 == 0 else self.base.height
            xs, ys = before - ys, xs
        return self.base.directions(xs, ys)


def turned(base: View | Band, roll_deg: int) -> Turned:
    """``base`` turned by ``roll_deg`` (a multiple of 90 deg), see :class:`Turned`."""
    return Turned(base, _quarter_turns(roll_deg))


def roll_image(image: np.ndarray, roll_deg: int) -> np.ndarray:
    """A view's image as :func:`turned` sees it: turned ``roll_deg`` counter-clockwise."""
    return np.ascontiguousarray(np.rot90(image, _quarter_turns(roll_deg)))


def _quarter_turns(roll_deg: int) -> int:
    if roll_deg % 90:
        raise ValueError(f"view rolls must be multiples of 90 deg, got {roll_deg}")
    return (roll_deg // 90) % 4


def detection_views(size: int, polar: int | None = None) -> list[View]:
    """The six cube faces and the twelve edge views, for a horizon face side of ``size`` px.

    Views away from the horizon (``u``, ``d`` and the edges at pitch +-45 deg) get a side
    of ``polar`` px (a multiple of 64); None = half of ``size``, down to
    :data:`MIN_POLAR_VIEW_SIZE` (:func:`polar_size`).
    """
    polar = polar_size(size) if polar is None else polar
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


def polar_size(size: int) -> int:
    """Side of the views away from the horizon for horizon views of ``size`` px.

    Half the resolution, down to :data:`MIN_POLAR_VIEW_SIZE`: seen from a tripod at eye
    level, a face more than 30 deg above or below the horizon is within about a metre of
    the lens, so it is large. Small, distant faces are all near the horizon.
    """
    return min(size, max(_round64(size / 2), MIN_POLAR_VIEW_SIZE))


@functools.lru_cache(maxsize=4)
def view_maps(
    work_width: int, size: int, polar: int | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Fixed-point remap maps of every view into a ``work_width`` equirect (36 MB at 896)."""
    out = []
    for view in detection_views(size, polar):
        col, row = equirect_coords(*view.rays(), work_width, work_width // 2)
        out.append(fixed_point_maps(col, row, work_width // 2))
    return tuple(out)


def halved(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` halved (area average) as often as it stays at least ``width`` px wide.

    OpenCV's area average is ten times cheaper for an exact half (14 ms CPU from 8192x4096)
    than for any other ratio (155 ms from 8192x4096 to 2816x1408).
    """
    while image.shape[1] >= 2 * width and image.shape[1] % 2 == 0 and image.shape[0] % 2 == 0:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = cv2.resize(image, half, interpolation=cv2.INTER_AREA)
    return image


def shrink(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` area-averaged to ``width`` px wide (never enlarged), keeping its aspect.

    Exact halvings first (:func:`halved`), then one last step of less than two.
    """
    image = halved(image, width)
    if image.shape[1] > width:
        height = max(1, round(image.shape[0] * width / image.shape[1]))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


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
