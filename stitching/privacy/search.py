"""Searching the sphere for faces, in four rolls: a cheap first look, a sharp second one.

CenterFace costs the same for every pixel it sees (about 0.2 us per pixel on one core in
float, 0.11 us with the 8-bit network of :mod:`stitching.privacy.quantize`),
and a face needs about 25 px of height to score above the detector's threshold. The 18
cube and edge views at full resolution (8K: 896 px faces) are 6 Mpx, 1.3 s of CPU for one
roll. The search here covers the sphere with fewer pixels, in every roll:

1. **First pass.** The horizon band (:class:`~stitching.privacy.views.Band`, pitch within
   :data:`BAND_LAT_DEG`, wrapped at the seam: no cube edges to cut a face) and the two
   polar views (``u``, ``d``, :data:`POLE_HALF_DEG` from the pole), each turned by every
   roll of :attr:`Plan.rolls_deg`, batched, at a low score threshold (:attr:`Plan.threshold`).
   Upright, the band has :attr:`Plan.scale` of the full resolution: small (distant) faces
   are near the horizon of a level capture. Turned, it has :attr:`Plan.rolled_scale`: a
   capture that is upside down or on its side finds its near faces there, and its distant
   ones down to the size the benchmark reports. The polar views have
   :attr:`Plan.polar_scale` of the old polar resolution and are rendered at the yaws of
   :attr:`Plan.polar_yaws_deg`: a face 45 deg off the horizon is within about a metre of
   a tripod at eye level, so it is large, but it may be turned any way.
2. **Confirmation.** A weak hit (below the detector's threshold) is looked at again in a
   small view centred on it, turned like the image that fired (and turned to the meridian,
   if that differs), with the face at :data:`CONFIRM_FACE_PX` px (up to twice the full
   resolution), at the detector's threshold. A strong hit is a face already;
   one cut by its image's border is confirmed too, since the centred view sees it whole.

Every direction of the sphere is inside the band or a polar view, away from their borders
(tests/stitching/test_privacy.py checks it), in every roll.

An image the network could not search (it raised on it alone, after the batch it was in
failed) is named in :attr:`SearchResult.failed`; the search is then not complete and the
pipeline does not publish the scene. When nothing at all could be searched, the detector
is broken and the search raises.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from config.errors import CaptureError
from stitching.privacy.detector import Detection, FaceDetector, short_message
from stitching.privacy.regions import FaceRegion, enclosing_region, view_frame
from stitching.privacy.views import (
    ROLLS_DEG,
    Band,
    Turned,
    View,
    band_image,
    polar_size,
    roll_image,
    shrink,
    turned,
)
from stitching.sphere import equirect_coords, fixed_point_maps, remap_wrapped

#: The band reaches this far from the horizon (degrees) ...
BAND_LAT_DEG = 50.0
#: ... and the polar views this far from their pole, to their edges' middles (degrees):
#: 10 deg of overlap, so a face up to 10 deg high is whole in one of them.
POLE_HALF_DEG = 50.0
#: Columns of the band repeated across the seam, in degrees of yaw.
BAND_PAD_DEG = 12.0
#: Height in px a face is given in a confirmation view: CenterFace scores faces of
#: 24-48 px highest.
CONFIRM_FACE_PX = 40
#: A confirmation view is at most this much sharper than the full-resolution views.
CONFIRM_UPSAMPLE = 2.0
#: Half-side of a confirmation view, in face heights: the face and as much again around it.
CONFIRM_CONTEXT = 1.5
#: A box closer than this to its image's border (px) may be a cut face: confirm it.
_BORDER_PX = 2.0

Sheet = Turned | View


@dataclass(frozen=True, slots=True)
class Plan:
    """How the sphere is searched (module docstring).

    Scales are relative to the full resolution of ``blur_faces``' views (the band's pixels
    per degree to those at the centre of a horizon view; the polar views' to those at the
    centre of the old polar views, :func:`~stitching.privacy.views.polar_size`).
    ``polar_yaws_deg`` are the yaws the polar views are rendered at: near a pole a level
    scene's faces are turned by their yaw, so views at 0 and 45 deg, in four rolls each,
    leave every face within 22.5 deg of upright in one (one yaw alone missed a face at
    pitch 60 that tests/stitching/test_privacy.py plants, and 3 of the benchmark's 72).
    ``threshold`` is the first pass's score threshold. The defaults were chosen on
    tests/bench/privacy.py with the 8-bit network: ``scale`` 0.727 makes the upright band
    the search's copy halved exactly (the cheap area average) and, with ``threshold``
    0.05, kept every upright face the 0.8x band found; the lower threshold raised the
    rolled recall by 5-7 faces of 72, the sharper polar views the upright one by 3-4.
    """

    rolls_deg: tuple[int, ...] = ROLLS_DEG
    scale: float = 0.727
    rolled_scale: float = 0.35
    polar_scale: float = 0.55
    polar_yaws_deg: tuple[float, ...] = (0.0, 45.0)
    threshold: float = 0.05

    def __post_init__(self) -> None:
        if not self.rolls_deg or any(r % 90 for r in self.rolls_deg):
            raise ValueError(f"rolls must be multiples of 90 deg, got {self.rolls_deg}")
        for scale in (self.scale, self.rolled_scale, self.polar_scale):
            if not 0.0 < scale <= 2.0:
                raise ValueError(f"search scales must be in (0, 2], got {scale}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"first-pass threshold must be in (0, 1), got {self.threshold}")


#: The plan the pipeline searches with (tests/bench/privacy.py measures it).
DEFAULT_PLAN = Plan()


@dataclass(slots=True)
class SearchResult:
    """What the search found and what it looked at.

    ``regions`` are unmerged detections in the frame of the searched equirect. ``views``
    is the number of images searched in the first pass (the band and each polar view, in
    each roll), ``confirmed`` the number of confirmation views; ``failed`` names the
    images that could not be searched.
    """

    regions: list[FaceRegion]
    views: int
    rolls_deg: tuple[int, ...]
    confirmed: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every image in every roll was searched."""
        return not self.failed


def search_faces(
    work: np.ndarray, detector: FaceDetector, size: int, plan: Plan = DEFAULT_PLAN
) -> SearchResult:
    """Find faces on the sphere of ``work`` (see the module docstring).

    Parameters
    ----------
    work:
        uint8 (h, 2h, 3) BGR equirect, at least as sharp as the full-resolution views
        (``size / 2`` px per radian) or as sharp as the capture is; confirmation views
        sample it, first-pass images are area-averaged from it.
    detector:
        The face detector; its threshold decides what is a face.
    size:
        Side in px of the full-resolution horizon views (a multiple of 64): their centre
        has ``size / 2`` px per radian.
    plan:
        Rolls and the first pass's resolutions and threshold.

    Raises
    ------
    config.errors.CaptureError
        Nothing at all could be searched: the detector is broken.
    """
    sheets: list[Sheet] = []
    images: list[np.ndarray] = []
    for base, image, rolls in _first_pass_images(work, size, plan):
        for roll in rolls:
            sheets.append(turned(base, roll))
            images.append(roll_image(image, roll))
    first_threshold = min(plan.threshold, detector.threshold)
    found, failed = _detect(detector, images, [s.name for s in sheets], first_threshold)
    if len(failed) == len(sheets):
        raise CaptureError(failed[0])

    regions: list[FaceRegion] = []
    hits: list[tuple[Sheet, Detection]] = []
    for sheet, detections in zip(sheets, found, strict=True):
        for det in detections or ():
            if det.score >= detector.threshold:
                regions.append(_region(sheet, det))
                if _at_border(sheet, det):
                    hits.append((sheet, det))
            else:
                hits.append((sheet, det))
    cap = size / 2 * CONFIRM_UPSAMPLE  # px per radian
    centred = [
        view
        for sheet, det in _worth_confirming(hits, regions, detector.threshold)
        for view in _centred_views(sheet, det, cap)
    ]
    crops = [_render(work, view) for view in centred]
    found, confirm_failed = _detect(detector, crops, [v.name for v in centred], None)
    for view, detections in zip(centred, found, strict=True):
        regions.extend(_region(view, d) for d in detections or () if _central(view, d))
    return SearchResult(
        regions=regions,
        views=len(sheets),
        rolls_deg=tuple(plan.rolls_deg),
        confirmed=len(centred),
        failed=[*failed, *confirm_failed],
    )


def _first_pass_images(
    work: np.ndarray, size: int, plan: Plan
) -> list[tuple[View | Band, np.ndarray, list[int]]]:
    """The band at each scale the plan asks for and the polar views, with their rolls."""
    full_focal = size / 2  # px per radian at the centre of a full-resolution horizon view
    by_scale: dict[float, list[int]] = {}
    for roll in plan.rolls_deg:
        scale = plan.scale if roll % 360 == 0 else plan.rolled_scale
        by_scale.setdefault(scale, []).append(roll)
    out: list[tuple[View | Band, np.ndarray, list[int]]] = []
    for scale, rolls in by_scale.items():
        small = _shrunk(work, full_focal * scale)
        pad = round(BAND_PAD_DEG * small.shape[1] / 360)
        band, image = band_image(small, BAND_LAT_DEG, pad)
        out.append((band, image, rolls))
    polar_focal = polar_size(size) / 2 * plan.polar_scale
    small = _shrunk(work, polar_focal)
    half = math.tan(math.radians(POLE_HALF_DEG))
    side = _round32(2 * half * polar_focal)
    for name, pitch in (("u", 90.0), ("d", -90.0)):
        for yaw in plan.polar_yaws_deg:
            label = f"{name}{yaw:+g}" if yaw else name
            view = View(label, view_frame(yaw, pitch), half, half, side, side)
            maps = _polar_maps(yaw, pitch, half, side, small.shape[1])
            out.append((view, remap_wrapped(small, maps), list(plan.rolls_deg)))
    return out


def _shrunk(work: np.ndarray, focal: float) -> np.ndarray:
    """``work`` area-averaged to ``focal`` px per radian (never enlarged)."""
    return shrink(work, 4 * round(2 * math.pi * focal / 4))


def clear_caches() -> None:
    """Drop the cached remap maps of the search's views (an idle worker gives them back)."""
    _polar_maps.cache_clear()


@functools.lru_cache(maxsize=8)
def _polar_maps(
    yaw: float, pitch: float, half: float, side: int, work_width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remap maps of a polar view (see :func:`_first_pass_images`), cached."""
    view = View("pole", view_frame(yaw, pitch), half, half, side, side)
    col, row = equirect_coords(*view.rays(), work_width, work_width // 2)
    return fixed_point_maps(col, row, work_width // 2)


def _detect(
    detector: FaceDetector, images: Sequence[np.ndarray], names: Sequence[str],
    threshold: float | None,
) -> tuple[list[list[Detection] | None], list[str]]:  # fmt: skip
    """Detections per image (None where it failed) and a message per failed image.

    All images go in one batched call; if that fails, each is tried alone, so one image the
    network cannot take does not hide what the others show.
    """
    if not images:
        return [], []
    try:
        batch: list[list[Detection] | None] = list(
            detector.detect_batch(images, threshold=threshold)
        )
        return batch, []
    except (CaptureError, cv2.error) as exc:
        if len(images) == 1:
            return [None], [f"view {names[0]}: {short_message(exc)}"]
    out: list[list[Detection] | None] = []
    failed = []
    for image, name in zip(images, names, strict=True):
        try:
            out.append(detector.detect_batch([image], threshold=threshold)[0])
        except (CaptureError, cv2.error) as exc:
            out.append(None)
            failed.append(f"view {name}: {short_message(exc)}")
    return out, failed


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def _box_points(sheet: Sheet, det: Detection) -> np.ndarray:
    """Unit directions of a box's centre, its corners, and its top, bottom, left, right."""
    cx, cy = (det.x0 + det.x1) / 2, (det.y0 + det.y1) / 2
    xs = np.array([cx, det.x0, det.x1, det.x1, det.x0, cx, cx, det.x0, det.x1])
    ys = np.array([cy, det.y0, det.y0, det.y1, det.y1, det.y0, det.y1, cy, cy])
    return _unit(sheet.directions(xs, ys))


def _region(sheet: Sheet, det: Detection) -> FaceRegion:
    """The upright sphere region a box covers."""
    points = _box_points(sheet, det)
    return enclosing_region(points[0], points[1:5], det.score, "detector")


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return math.acos(float(np.clip(a @ b, -1.0, 1.0)))


def _size(points: np.ndarray) -> float:
    """A box's larger side as an angle (radians), from :func:`_box_points`."""
    return max(_angle(points[5], points[6]), _angle(points[7], points[8]))


def _at_border(sheet: Sheet, det: Detection) -> bool:
    return (
        det.x0 < _BORDER_PX
        or det.y0 < _BORDER_PX
        or det.x1 > sheet.width - _BORDER_PX
        or det.y1 > sheet.height - _BORDER_PX
    )


def _worth_confirming(
    hits: list[tuple[Sheet, Detection]], found: list[FaceRegion], threshold: float
) -> list[tuple[Sheet, Detection]]:
    """The hits to look at again: best first, one per face and orientation.

    A weak hit near a face already found needs no second look, and of several hits on one
    spot seen the same way up, one will do.
    """
    faces = [
        (_unit(view_frame(r.yaw_deg, r.pitch_deg)[2]), math.radians(max(r.width_deg, r.height_deg)))
        for r in found
    ]  # fmt: skip
    kept: list[tuple[tuple[Sheet, Detection], np.ndarray, np.ndarray, float]] = []
    for sheet, det in sorted(hits, key=lambda h: -h[1].score):
        points = _box_points(sheet, det)
        here, size, up = points[0], _size(points), points[5] - points[6]
        if det.score < threshold and any(_angle(here, c) < max(s, size) / 2 for c, s in faces):
            continue
        if any(
            _angle(here, c) < max(s, size) / 2 and float(up @ u) > 0.7 * np.linalg.norm(up)
            * np.linalg.norm(u)
            for _, c, u, s in kept
        ):  # fmt: skip
            continue
        kept.append(((sheet, det), here, up, size))
    return [k[0] for k in kept]


def _centred_views(sheet: Sheet, det: Detection, cap: float) -> list[View]:
    """Small views centred on a hit, turned so that the face may be upright in them.

    One is turned like the image that fired. A level scene's faces stand along the
    meridian, which near a pole is turned against any fixed view: so another is turned to
    the meridian's up rotated by the quarter turn nearest to the first, unless the two are
    within 20 deg of each other. ``cap`` is the sharpest they may be, px per radian.
    """
    points = _box_points(sheet, det)
    forward = points[0]
    ups = [u for u in (_tangent(points[5] - points[6], forward),) if u is not None]
    meridian = _tangent(np.array([0.0, 1.0, 0.0]), forward)
    if meridian is not None and ups:
        side = np.cross(meridian, forward)  # a quarter turn of the meridian's up
        best = max((meridian, -side, -meridian, side), key=lambda t: float(t @ ups[0]))
        if float(best @ ups[0]) < math.cos(math.radians(20.0)):
            ups.append(best)
    face = max(_size(points), 1e-3)
    focal = min(CONFIRM_FACE_PX / face, cap)
    half = min(CONFIRM_CONTEXT * face, math.tan(math.radians(60.0)))
    side_px = max(64, _round32(2 * half * focal))
    half = side_px / (2 * focal)
    yaw = math.degrees(math.atan2(forward[0], forward[2]))
    pitch = math.degrees(math.asin(float(np.clip(forward[1], -1.0, 1.0))))
    views = []
    for k, up in enumerate(ups):
        name = f"{sheet.name}~({yaw:.0f},{pitch:.0f}){'^' * k}"
        frame = np.stack([np.cross(up, forward), up, forward])
        views.append(View(name, frame, half, half, side_px, side_px))
    return views


def _tangent(up: np.ndarray, forward: np.ndarray) -> np.ndarray | None:
    """``up`` made perpendicular to ``forward``, unit; None when they are (nearly) parallel."""
    t = up - (up @ forward) * forward
    norm = float(np.linalg.norm(t))
    return t / norm if norm > 1e-6 else None


def _render(work: np.ndarray, view: View) -> np.ndarray:
    col, row = equirect_coords(*view.rays(), work.shape[1], work.shape[0])
    return remap_wrapped(work, fixed_point_maps(col, row, work.shape[0]))


def _central(view: View, det: Detection) -> bool:
    """The box's centre is in the middle half of the view: the face the view was made for."""
    cx, cy = (det.x0 + det.x1) / 2, (det.y0 + det.y1) / 2
    return abs(cx - view.width / 2) < view.width / 4 and abs(cy - view.height / 2) < view.height / 4


def _round32(size: float) -> int:
    """Nearest multiple of 32, at least 64."""
    return max(64, round(size / 32) * 32)
