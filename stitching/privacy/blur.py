"""Blurring faces in the equirect: detect on the views, map back, average the regions down.

Blurring averages each region, plus a margin, down to a few cells and scales it back up, in
the full-resolution equirect: the detail is discarded, not hidden, so it cannot be undone.
Regions are masked on the sphere, so they wrap across the yaw seam and stay whole over the
poles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from config.errors import CaptureError
from stitching.equirect import rotate_equirect
from stitching.privacy.detector import FaceDetector, short_message
from stitching.privacy.regions import (
    MAX_HALF_ANGLE,
    FaceRegion,
    merge_regions,
    rotate_region,
    view_frame,
)
from stitching.privacy.search import DEFAULT_PLAN, Plan, search_faces
from stitching.privacy.views import choose_view_size, halved

#: Margin blurred around every region, as a fraction of its size on each side.
MARGIN = 0.3
#: Cells across the blurred box (region plus margin) after averaging; the face itself
#: keeps about 4, too few to recognise anyone, and the averaging cannot be reversed.
CELLS_ACROSS = 6


@dataclass(slots=True)
class BlurResult:
    """The blurred equirect and what was blurred.

    ``image`` is ``out`` when one was given; else the input itself when ``regions`` is
    empty, a blurred copy otherwise.
    ``regions`` are the merged detections, then the manual regions, without the margin.
    ``views`` is how many views were searched (each view in each roll counts once),
    ``rolls_deg`` the rolls; ``failed`` names the views that could not be searched, and
    ``complete`` is False when there are any: the sphere was not searched whole.
    """

    image: np.ndarray
    regions: list[FaceRegion]
    detector: str
    detector_version: str
    views: int = 0
    rolls_deg: tuple[int, ...] = ()
    failed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every view was searched in every roll."""
        return not self.failed


def blur_faces(
    equirect: np.ndarray,
    detector: FaceDetector,
    *,
    extra_regions: Sequence[FaceRegion] = (),
    view_size: int | None = None,
    out: np.ndarray | None = None,
    plan: Plan = DEFAULT_PLAN,
    rotation: np.ndarray | None = None,
) -> BlurResult:
    """Find faces anywhere on the sphere, in four rolls, and blur them and ``extra_regions``.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR full-sphere equirect, W = 2H. Not modified, unless it is ``out``.
    detector:
        The face detector.
    extra_regions:
        Regions blurred whatever the detector finds (e.g. from the capture sidecar), in
        the frame of ``equirect`` (see :func:`rotate_region` for a levelled frame).
    view_size:
        The full resolution the search is scaled from, as the side in px of a 90 deg view
        on the horizon, rounded to a multiple of 64 (``view_size / 2`` px per radian);
        None = :data:`DEFAULT_VIEW_SIZE`, or the equirect's quarter width if smaller. Cost
        grows with its square. At 896 (7.8 px per degree) and the default plan every
        planted face 3 deg high (3.4 m away) within 30 deg of the horizon was found
        (tests/bench/privacy.py).
    out:
        Where to write the result, uint8 like ``equirect``; pass ``equirect`` itself to
        blur in place and save a copy (0.2 s CPU at 8192x4096). None = a new array when
        there is anything to blur.
    plan:
        How the sphere is searched: rolls, first-pass resolutions and threshold
        (:mod:`stitching.privacy.search`).
    rotation:
        The levelling the scene will be published with (3x3, levelled -> ``equirect``
        directions, as :func:`stitching.sphere.pose_rotation` gives), or None. The search
        then runs on a levelled copy, so faces upright in the published scene are searched
        upright, at the band's full first-pass resolution (a camera on its side would
        otherwise leave them to the turned views' coarser pass); the regions found are
        turned back into ``equirect``'s frame (boxes grown to stay upright). The copy costs
        one remap at the search's resolution (about 15 ms at 8K).

    Returns
    -------
    BlurResult
        Every region is blurred with a margin of :data:`MARGIN` of its size on each side.

    Raises
    ------
    ValueError
        ``equirect`` is not uint8 BGR 2:1, or ``out`` does not match it.
    config.errors.CaptureError
        Detection failed on every view: the detector is broken. (A view that alone could
        not be searched is named in ``BlurResult.failed`` instead; the caller must not
        publish the result.)
    """
    if equirect.dtype != np.uint8 or equirect.ndim != 3 or equirect.shape[2] != 3:
        raise ValueError(
            f"equirect must be uint8 (H, W, 3) BGR, got {equirect.dtype} {equirect.shape}"
        )
    height, width = equirect.shape[:2]
    if height < 2 or width != 2 * height:
        raise ValueError(f"equirect must be 2:1, got {width}x{height}")
    if out is not None and (out.shape != equirect.shape or out.dtype != equirect.dtype):
        raise ValueError(f"out must be uint8 {equirect.shape}, got {out.dtype} {out.shape}")
    size = choose_view_size(view_size, width)
    # Confirmation views sample this copy: the master halved (cheap) while it stays at
    # least as sharp as the full-resolution views (size / 2 px per radian).
    work = halved(equirect, 4 * round(math.pi * size / 4))
    if rotation is not None:
        work = rotate_equirect(work, rotation)
    try:
        search = search_faces(work, detector, size, plan)
    except cv2.error as exc:
        raise CaptureError(f"face search failed: {short_message(exc)}") from exc
    found = search.regions
    if rotation is not None:
        found = [rotate_region(r, rotation) for r in found]
    regions = merge_regions(found) + list(extra_regions)
    if out is None:
        out = equirect.copy() if regions else equirect
    elif out is not equirect:
        out[...] = equirect
    for region in regions:
        _blur_region(out, region)
    return BlurResult(
        out, regions, detector.name, detector.version,
        views=search.views, rolls_deg=search.rolls_deg, failed=search.failed,
    )  # fmt: skip


def _blur_region(img: np.ndarray, region: FaceRegion) -> None:
    """Average ``region`` plus its margin down to :data:`CELLS_ACROSS` cells, in place."""
    height, width = img.shape[:2]
    grow = 1.0 + 2.0 * MARGIN
    half_x = min(math.radians(region.width_deg * grow / 2), MAX_HALF_ANGLE)
    half_y = min(math.radians(region.height_deg * grow / 2), MAX_HALF_ANGLE)
    tx, ty = math.tan(half_x), math.tan(half_y)
    reach = math.atan(math.hypot(tx, ty))  # angle from the centre to a corner
    pitch = math.radians(region.pitch_deg)
    top = min(pitch + reach, math.pi / 2)
    bottom = max(pitch - reach, -math.pi / 2)
    r0 = max(0, math.floor((0.5 - top / math.pi) * height))
    r1 = min(height, math.ceil((0.5 - bottom / math.pi) * height))
    centre_col = (region.yaw_deg / 360.0 + 0.5) * width
    if reach >= math.pi / 2 - abs(pitch):
        # The box holds a pole (or nearly): every yaw meets it.
        cols = np.arange(width)
        col_span = float(width)
    else:
        half_yaw = math.asin(min(1.0, math.sin(reach) / math.cos(pitch)))
        c0 = math.floor(centre_col - half_yaw / (2 * math.pi) * width)
        c1 = math.ceil(centre_col + half_yaw / (2 * math.pi) * width)
        cols = np.arange(c0, min(c1, c0 + width)) % width
        col_span = 2 * half_x / max(math.cos(pitch), 1e-6) / (2 * math.pi) * width
    if r1 <= r0 or len(cols) == 0:
        return

    # Columns that do not wrap are a slice: a view of the image, written in place.
    wraps = int(cols[-1]) - int(cols[0]) != len(cols) - 1
    roi = img[r0:r1, cols] if wraps else img[r0:r1, int(cols[0]) : int(cols[-1]) + 1]
    mask = _box_mask(region, tx, ty, np.arange(r0, r1), cols, width, height)
    row_span = 2 * half_y / math.pi * height
    cells_x = max(1, round(len(cols) / max(col_span / CELLS_ACROSS, 1.0)))
    cells_y = max(1, round((r1 - r0) / max(row_span / CELLS_ACROSS, 1.0)))
    small = cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)
    roi[mask] = smooth[mask]
    if wraps:
        img[r0:r1, cols] = roi


def _box_mask(
    region: FaceRegion,
    tx: float,
    ty: float,
    rows: np.ndarray,
    cols: np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    """Which equirect pixels (rows x cols) look into the region's box, bool (rows, cols)."""
    yaw = ((cols + 0.5) / width - 0.5) * (2 * math.pi)
    pitch = (0.5 - (rows + 0.5) / height) * math.pi
    cos_p, sin_p = np.cos(pitch)[:, None], np.sin(pitch)[:, None]
    sin_y, cos_y = np.sin(yaw)[None, :], np.cos(yaw)[None, :]
    # The pixel's direction (cos p sin y, sin p, cos p cos y) against each frame axis.
    x, y, z = (
        cos_p * (sin_y * m[0] + cos_y * m[2]) + sin_p * m[1]
        for m in view_frame(region.yaw_deg, region.pitch_deg)
    )
    return (z > 0) & (np.abs(x) <= tx * z) & (np.abs(y) <= ty * z)
