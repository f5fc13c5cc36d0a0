"""Multi-shot sets from a rotating head -> a full 360x180 equirect (OpenCV cv2.detail).

The steps follow OpenCV's detailed stitching pipeline: SIFT features on a ~0.6 MP copy,
pairwise matching of every pair, the largest connected set of frames (every other frame
is reported by name, never dropped silently), rotations from homographies (or seeded from
the known yaw step), ray bundle adjustment, horizontal wave correction, gain exposure
compensation, graph-cut seams on a ~0.1 MP copy, and multi-band blending.

Warping is done here rather than with cv2's spherical warper, which cannot wrap: every
frame is resampled straight into the equirect canvas through its camera, and a frame that
straddles yaw +-180 deg is fed to the blender as two pieces, one at each end. The first
frame looks at yaw 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from config.errors import CaptureError
from stitching.kinds import Frame, StitchResult

WORK_MEGAPIX = 0.6
SEAM_MEGAPIX = 0.1
MATCH_CONFIDENCE = 0.65  # Lowe ratio in BestOf2NearestMatcher
PLACE_CONFIDENCE = 1.0  # pair confidence needed to join the connected set
BLEND_BANDS = 5


@dataclass(frozen=True, slots=True)
class _Piece:
    index: int  # frame index
    x: int  # canvas box, px
    y: int
    w: int
    h: int


def stitch_frames(
    frames: list[Frame],
    *,
    yaw_step_deg: float | None = None,
    brackets: int = 1,
    allow_incomplete: bool = False,
    out_width: int | None = None,
) -> StitchResult:
    """Stitch frames from a rotating head into a full-sphere equirect.

    Parameters
    ----------
    frames:
        uint8 (H, W, 3) BGR frames of one size, in shooting order; with ``brackets`` > 1,
        consecutive groups of ``brackets`` frames are exposures of one position and are
        fused first (Mertens).
    yaw_step_deg:
        Yaw between consecutive positions of a single row, when known (sidecar or EXIF);
        seeds the bundle adjustment instead of the homography estimate.
    allow_incomplete:
        With False, a frame that cannot be placed fails the capture; with True it is
        listed in ``frames_unplaced`` and the rest is stitched.
    out_width:
        Width of the equirect (even); default the frames' own resolution round the sphere.

    Returns
    -------
    StitchResult
        kind "multishot"; uncovered parts of the sphere are black. ``details`` hold the
        focal length, yaw/pitch of each placed position and the exposure gains.

    Raises
    ------
    CaptureError
        Fewer than two positions, frames of different sizes, a bracket group that does not
        divide the set, no two frames overlapping, or (unless ``allow_incomplete``) a frame
        that could not be placed. Messages name the frames.
    """
    _check(frames, brackets)
    groups = [frames[i : i + brackets] for i in range(0, len(frames), brackets)]
    images = [_fuse(g) for g in groups]
    names = ["+".join(f.name for f in g) for g in groups]

    h, w = images[0].shape[:2]
    work_scale = min(1.0, math.sqrt(WORK_MEGAPIX * 1e6 / (h * w)))
    seam_scale = min(1.0, math.sqrt(SEAM_MEGAPIX * 1e6 / (h * w)))
    finder = cv2.SIFT.create(nfeatures=3000)
    features = []
    for img in images:
        small = cv2.resize(img, None, fx=work_scale, fy=work_scale, interpolation=cv2.INTER_AREA)
        features.append(cv2.detail.computeImageFeatures2(finder, small))
    matcher = cv2.detail.BestOf2NearestMatcher(False, MATCH_CONFIDENCE)
    pairwise = matcher.apply2(features)
    matcher.collectGarbage()

    kept = list(cv2.detail.leaveBiggestComponent(features, pairwise, PLACE_CONFIDENCE))
    kept = [int(i) for i in np.asarray(kept).ravel()]
    unplaced = [names[i] for i in range(len(images)) if i not in kept]
    if len(kept) < 2:
        raise CaptureError(
            f"no two frames of the set overlap enough to be matched ({', '.join(names)}); "
            "check that the frames belong together and overlap by at least a quarter"
        )
    if unplaced and not allow_incomplete:
        raise CaptureError(
            f"{len(unplaced)} of {len(images)} frames could not be placed: "
            f"{', '.join(unplaced)} (no confident match with the rest of the set)"
        )
    features = [features[i] for i in kept]
    pairwise = _subset_matches(list(pairwise), kept, len(images))
    cameras = _cameras(features, pairwise, yaw_step_deg, kept)
    rotations = _level([c.R for c in cameras])
    # Cameras were estimated at work scale; scale intrinsics to full resolution.
    intrinsics = []
    for cam in cameras:
        k = cam.K().astype(np.float64)
        k[:2] /= work_scale
        intrinsics.append(k)
    focal = float(np.median([k[0, 0] for k in intrinsics]))

    width = (out_width or int(round(2 * math.pi * focal))) // 2 * 2
    # Canvas column 0 looks 180 deg away from frame 0, so frame 0 lands at the centre
    # (yaw 0) and, in a ring of shots, the wrap runs through the middle of the opposite one.
    seam_yaw = _yaw_of(rotations[0]) - math.pi
    used = [images[i] for i in kept]
    result, gains = _compose(used, intrinsics, rotations, width, seam_yaw, seam_scale)
    poses = [
        [
            round(_wrap_deg(math.degrees(_yaw_of(r) - _yaw_of(rotations[0]))), 2),
            round(_pitch_of(r), 2),
        ]
        for r in rotations
    ]
    used_names = [names[i] for i in kept]
    frames_used = [f.name for i in kept for f in groups[i]]
    return StitchResult(
        equirect=result,
        kind="multishot",
        frames_used=frames_used,
        frames_unplaced=unplaced,
        warnings=[f"incomplete: frames not placed: {', '.join(unplaced)}"] if unplaced else [],
        details={
            "positions": used_names,
            "focal_px": round(focal, 1),
            "poses_yaw_pitch_deg": poses,
            "exposure_gains": [round(g, 4) for g in gains],
            "incomplete": bool(unplaced),
        },
    )


def _check(frames: list[Frame], brackets: int) -> None:
    if brackets < 1:
        raise CaptureError(f"brackets must be at least 1, got {brackets}")
    if len(frames) % brackets:
        raise CaptureError(
            f"{len(frames)} frames do not split into brackets of {brackets}; "
            f"the last group starts at {frames[len(frames) // brackets * brackets].name}"
        )
    if len(frames) < 2 * brackets:
        only = ", ".join(f.name for f in frames) or "nothing"
        raise CaptureError(f"a multi-shot set needs at least two positions; got {only}")
    first = frames[0]
    for f in frames:
        if f.image.dtype != np.uint8 or f.image.ndim != 3 or f.image.shape[2] != 3:
            raise CaptureError(f"{f.name}: expected a uint8 BGR image, got {f.image.shape}")
        if f.image.shape != first.image.shape:
            fh, fw = f.image.shape[:2]
            h, w = first.image.shape[:2]
            raise CaptureError(
                f"{f.name} is {fw}x{fh} but {first.name} is {w}x{h}; every frame of a set "
                "must have the same size"
            )


def _fuse(group: list[Frame]) -> np.ndarray:
    """One image per head position: Mertens exposure fusion of its brackets."""
    if len(group) == 1:
        return group[0].image
    fused = cv2.createMergeMertens().process([f.image for f in group])
    return np.clip(fused * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _subset_matches(
    pairwise: list[cv2.detail.MatchesInfo], kept: list[int], n: int
) -> list[cv2.detail.MatchesInfo]:
    """The pairwise matches among ``kept`` frames, re-indexed (as stitching_detailed)."""
    out = []
    for i in kept:
        for j in kept:
            m = pairwise[i * n + j]
            m.src_img_idx = kept.index(i) if m.src_img_idx >= 0 else -1
            m.dst_img_idx = kept.index(j) if m.dst_img_idx >= 0 else -1
            out.append(m)
    return out


def _cameras(
    features: list[cv2.detail.ImageFeatures],
    pairwise: list[cv2.detail.MatchesInfo],
    yaw_step_deg: float | None,
    kept: list[int],
) -> list[cv2.detail.CameraParams]:
    estimator = cv2.detail.HomographyBasedEstimator()
    ok, cameras = estimator.apply(features, pairwise, None)  # type: ignore[arg-type]
    if not ok:
        raise CaptureError("the frames' rotations could not be estimated from their matches")
    for cam in cameras:
        cam.R = cam.R.astype(np.float32)
    if yaw_step_deg is not None:
        focal = float(np.median([c.focal for c in cameras]))
        for cam, index in zip(cameras, kept, strict=True):
            # OpenCV camera axes: y down, so a yaw to the right turns about -y... its R maps
            # camera rays to world rays.
            a = math.radians(yaw_step_deg * index)
            cam.R = np.array(
                [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]],
                dtype=np.float32,
            )
            cam.focal = focal
    adjuster = cv2.detail.BundleAdjusterRay()
    adjuster.setConfThresh(PLACE_CONFIDENCE)
    ok, cameras = adjuster.apply(features, pairwise, cameras)
    if not ok:
        raise CaptureError("bundle adjustment of the frames' rotations failed")
    return list(cameras)


def _level(rotations: list[np.ndarray]) -> list[np.ndarray]:
    mats = [np.asarray(r, dtype=np.float32) for r in rotations]
    mats = [np.asarray(m) for m in cv2.detail.waveCorrect(mats, cv2.detail.WAVE_CORRECT_HORIZ)]
    return [np.asarray(r, dtype=np.float64) for r in mats]


def _yaw_of(r: np.ndarray) -> float:
    fwd = r @ np.array([0.0, 0.0, 1.0])
    return math.atan2(fwd[0], fwd[2])


def _wrap_deg(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def _pitch_of(r: np.ndarray) -> float:
    fwd = r @ np.array([0.0, 0.0, 1.0])
    return math.degrees(math.atan2(-fwd[1], math.hypot(fwd[0], fwd[2])))


def _pieces(
    k: np.ndarray, r: np.ndarray, size: tuple[int, int], width: int, seam_yaw: float
) -> list[tuple[int, int, int, int]]:
    """Canvas boxes (x, y, w, h) a frame covers; two when it straddles the canvas edge."""
    w, h = size
    height = width // 2
    t = np.linspace(0, 1, 64)
    border = np.concatenate(
        [
            np.stack([t * w, np.zeros_like(t)], 1),
            np.stack([t * w, np.full_like(t, h)], 1),
            np.stack([np.zeros_like(t), t * h], 1),
            np.stack([np.full_like(t, w), t * h], 1),
        ]
    )
    rays = (r @ np.linalg.inv(k) @ np.column_stack([border, np.ones(len(border))]).T).T
    yaw = (np.arctan2(rays[:, 0], rays[:, 2]) - seam_yaw) % (2 * math.pi)
    pitch = np.arctan2(-rays[:, 1], np.hypot(rays[:, 0], rays[:, 2]))
    rows = (0.5 - pitch / math.pi) * height
    top, bottom = int(max(0, rows.min() - 2)), int(min(height, rows.max() + 3))
    for pole, pole_row in ((np.array([0.0, -1.0, 0.0]), 0), (np.array([0.0, 1.0, 0.0]), height)):
        cam = r.T @ pole
        if cam[2] > 0:
            px = k @ (cam / cam[2])
            if 0 <= px[0] <= w and 0 <= px[1] <= h:
                top, bottom = (0, bottom) if pole_row == 0 else (top, height)
                return [(0, top, width, bottom - top)]
    cols = np.sort(yaw / (2 * math.pi) * width)
    gaps = np.diff(np.concatenate([cols, [cols[0] + width]]))
    start_i = (int(np.argmax(gaps)) + 1) % len(cols)
    start = int(math.floor(cols[start_i])) - 2
    span = int(math.ceil(width - gaps.max())) + 5
    if span >= width:
        return [(0, top, width, bottom - top)]
    start %= width
    if start + span <= width:
        return [(start, top, span, bottom - top)]
    return [(start, top, width - start, bottom - top), (0, top, start + span - width, bottom - top)]


def _warp(
    img: np.ndarray,
    k: np.ndarray,
    r: np.ndarray,
    box: tuple[int, int, int, int],
    width: int,
    seam_yaw: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a frame into a canvas box: (uint8 (h, w, 3) image, uint8 (h, w) mask)."""
    x0, y0, bw, bh = box
    height = width // 2
    yaw = seam_yaw + (np.arange(x0, x0 + bw) + 0.5) / width * 2 * math.pi
    pitch = (0.5 - (np.arange(y0, y0 + bh) + 0.5) / height) * math.pi
    cp, sp = np.cos(pitch)[:, None], np.sin(pitch)[:, None]
    world = [cp * np.sin(yaw)[None, :], np.broadcast_to(-sp, (bh, bw)), cp * np.cos(yaw)[None, :]]
    m = k @ r.T
    cam = [m[i, 0] * world[0] + m[i, 1] * world[1] + m[i, 2] * world[2] for i in range(3)]
    z = cam[2]
    ok = z > 1e-6
    safe = np.where(ok, z, 1.0)
    u = (cam[0] / safe).astype(np.float32) - 0.5
    v = (cam[1] / safe).astype(np.float32) - 0.5
    h, w = img.shape[:2]
    ok &= (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    u[~ok] = -10
    v[~ok] = -10
    warped = cv2.remap(img, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped, (ok * 255).astype(np.uint8)


def _compose(
    images: list[np.ndarray],
    intrinsics: list[np.ndarray],
    rotations: list[np.ndarray],
    width: int,
    seam_yaw: float,
    seam_scale: float,
) -> tuple[np.ndarray, list[float]]:
    """Exposure-compensate, find seams at low resolution, multi-band blend at full."""
    height = width // 2
    size = (images[0].shape[1], images[0].shape[0])
    sw = max(64, int(round(width * seam_scale)) // 2 * 2)
    s_ratio = sw / width

    pieces_small: list[_Piece] = []
    warped_small, masks_small = [], []
    for i, (img, k, r) in enumerate(zip(images, intrinsics, rotations, strict=True)):
        ks = k.copy()
        ks[:2] *= seam_scale
        small = cv2.resize(img, None, fx=seam_scale, fy=seam_scale, interpolation=cv2.INTER_AREA)
        ss = (small.shape[1], small.shape[0])
        for box in _pieces(ks, r, ss, sw, seam_yaw):
            wimg, wmask = _warp(small, ks, r, box, sw, seam_yaw)
            pieces_small.append(_Piece(i, *box))
            warped_small.append(wimg)
            masks_small.append(wmask)
    corners = [(p.x, p.y) for p in pieces_small]
    # cv2's type stubs miss parts of cv2.detail and its ndarray-for-UMat overloads.
    compensator = cv2.detail.ExposureCompensator_createDefault(  # type: ignore[attr-defined]
        cv2.detail.ExposureCompensator_GAIN
    )
    compensator.feed(corners, warped_small, masks_small)
    raw = [float(np.asarray(g).ravel()[0]) for g in compensator.getMatGains()]
    # Pieces of one frame must share its gain, or the wrap would show.
    gains = []
    for i in range(len(images)):
        own = [g for g, p in zip(raw, pieces_small, strict=True) if p.index == i]
        gains.append(float(np.mean(own)))

    seam_finder = cv2.detail.GraphCutSeamFinder("COST_COLOR")
    seam_masks = seam_finder.find(
        [im.astype(np.float32) for im in warped_small],  # type: ignore[misc]
        corners,
        masks_small,  # type: ignore[arg-type]
    )

    blender = cv2.detail.MultiBandBlender(0, BLEND_BANDS)
    blender.prepare((0, 0, width, height))
    for piece, seam in zip(pieces_small, seam_masks, strict=True):
        k, r, img = intrinsics[piece.index], rotations[piece.index], images[piece.index]
        for box in _pieces(k, r, size, width, seam_yaw):
            if not _same_side(box, piece, s_ratio, width):
                continue
            wimg, wmask = _warp(img, k, r, box, width, seam_yaw)
            seam_full = _seam_mask(
                cv2.UMat.get(seam) if isinstance(seam, cv2.UMat) else seam, piece, box, s_ratio
            )
            mask = cv2.bitwise_and(wmask, seam_full)
            if gains[piece.index] != 1.0:
                wimg = cv2.convertScaleAbs(wimg, alpha=gains[piece.index])
            blender.feed(wimg.astype(np.int16), mask, (box[0], box[1]))
    result, _ = blender.blend(None, None)  # type: ignore[call-overload]
    return cv2.convertScaleAbs(result), gains


def _same_side(box: tuple[int, int, int, int], piece: _Piece, s_ratio: float, width: int) -> bool:
    """Whether a full-size piece and a seam-scale piece are the same end of a frame."""
    centre_full = (box[0] + box[2] / 2) / width
    centre_small = (piece.x + piece.w / 2) * 1.0 / (width * s_ratio)
    return abs(centre_full - centre_small) < 0.25


def _seam_mask(
    seam: np.ndarray, piece: _Piece, box: tuple[int, int, int, int], s_ratio: float
) -> np.ndarray:
    """The low-resolution seam mask of a piece, scaled onto the full-size box."""
    x0, y0, bw, bh = box
    # Where the full box sits in the small piece's coordinates.
    sx0 = x0 * s_ratio - piece.x
    sy0 = y0 * s_ratio - piece.y
    m = cv2.dilate(np.asarray(seam), np.ones((3, 3), np.uint8))
    affine = np.array([[s_ratio, 0, sx0], [0, s_ratio, sy0]], dtype=np.float64)
    return cv2.warpAffine(
        m,
        affine,
        (bw, bh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
