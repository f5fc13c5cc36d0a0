"""Multi-shot sets from a rotating head -> a full 360x180 equirect (OpenCV cv2.detail).

The steps follow OpenCV's detailed stitching pipeline: SIFT features on a ~1.3 MP copy,
pairwise matching of every pair, the largest connected set of frames (every other frame
is reported by name, never dropped silently, or placed from the head's programme when
that is known), rotations from homographies (or seeded from the programme), ray bundle
adjustment refined with one shared focal length (:mod:`stitching.bundle`), horizontal
wave correction, exposure gains solved from the overlaps, graph-cut seams on a ~0.1 MP
copy, and multi-band blending.

Warping is done here rather than with cv2's spherical warper, which cannot wrap: every
frame is resampled (bicubic) straight into the equirect canvas through its camera, and a
frame that straddles yaw +-180 deg is fed to the blender as two pieces, one at each end.
The first frame looks at yaw 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NoReturn

import cv2
import numpy as np

from config.errors import CaptureError
from stitching.bundle import PairMatches, adjust_rotations
from stitching.frames import Frame, StitchResult
from stitching.rotation import pose_rotation

WORK_MEGAPIX = 1.3  # keypoints: finer costs SIFT time, coarser costs pose accuracy (dB)
SEAM_MEGAPIX = 0.1
MATCH_CONFIDENCE = 0.65  # Lowe ratio in BestOf2NearestMatcher
PLACE_CONFIDENCE = 1.0  # pair confidence needed to join the connected set
#: The multi-band blender's coarsest band is canvas width / BLEND_SPAN px: 1/512 of the
#: way round, about 0.7 deg. The gains already match the exposures; wider bands only carry
#: clipped highlights and misregistered detail further.
BLEND_SPAN = 512
# Canvas-to-frame maps are built every _MAP_STEP px and interpolated (see _warp); depth
# below _MIN_Z (in px of focal, i.e. behind or beside the camera) has no image.
_MAP_STEP = 4
_MIN_Z = 1e-6
HUBER_WORK_PX = 1.0  # match residual (px at work scale) beyond which it counts linearly
NEIGHBOUR_SPAN = 2.2  # with a programme, pairs further apart than this many steps are not matched
RIG_MISFIT_DEG = 2.0  # matched frames further off the programme: it cannot place the rest
GAIN_DARK, GAIN_CLIP = 8, 250  # grey levels left out of the exposure ratios
GAIN_MIN_PIXELS = 50  # seam-scale overlap pixels for a pair's exposure ratio to count


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
    poses: list[tuple[float, float]] | None = None,
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
        seeds the bundle adjustment as ``poses`` [(0, 0), (step, 0), ...] would, but
        places nothing: a step says nothing of the row's pitch.
    poses:
        The head's programme, when known: (yaw_deg, pitch_deg) of each position (after
        bracket fusion) in shooting order, yaw positive to the right, pitch positive up.
        It seeds the bundle adjustment instead of the homography estimate, and a position
        that matches nothing (a featureless sky) is placed from it: through the rotation
        that best maps the programme onto the matched positions, with their focal
        length. Such positions are named in ``details["placed_from_rig"]`` and in a
        warning, and are not unplaced - unless the matched positions are more than
        ``RIG_MISFIT_DEG`` off the programme, which then cannot be trusted.
    allow_incomplete:
        With False, a frame that cannot be placed fails the capture; with True it is
        listed in ``frames_unplaced`` and the rest is stitched.
    out_width:
        Width of the equirect (even); default the frames' own resolution round the sphere.

    Returns
    -------
    StitchResult
        kind "multishot"; uncovered parts of the sphere are black. ``details`` hold the
        focal length, yaw/pitch of each placed position, the exposure gains and, with
        ``poses``, the positions placed from the rig alone and how far the matched ones
        are from the programme (``rig_misfit_deg``).

    Raises
    ------
    CaptureError
        Fewer than two positions, frames of different sizes, a bracket group that does not
        divide the set, no two frames overlapping, ``poses`` not one per position, or
        (unless ``allow_incomplete``) a frame that could not be placed. Messages name the
        frames.
    """
    _check(frames, brackets)
    groups = [frames[i : i + brackets] for i in range(0, len(frames), brackets)]
    seed_poses = poses
    if yaw_step_deg is not None and poses is None:
        seed_poses = [(yaw_step_deg * k, 0.0) for k in range(len(groups))]
    if poses is not None and len(poses) != len(groups):
        raise CaptureError(
            f"the head's programme gives {len(poses)} poses for {len(groups)} positions "
            f"({groups[0][0].name} .. {groups[-1][-1].name})"
        )
    images = [_fuse(g) for g in groups]
    names = ["+".join(f.name for f in g) for g in groups]

    h, w = images[0].shape[:2]
    work_scale = min(1.0, math.sqrt(WORK_MEGAPIX * 1e6 / (h * w)))
    seam_scale = min(1.0, math.sqrt(SEAM_MEGAPIX * 1e6 / (h * w)))
    finder = cv2.SIFT.create(nfeatures=3000)
    features = []
    work_size = _scaled_size(w, h, work_scale)
    for img in images:
        small = cv2.resize(img, work_size, interpolation=cv2.INTER_AREA)
        features.append(cv2.detail.computeImageFeatures2(finder, small))
    matcher = cv2.detail.BestOf2NearestMatcher(False, MATCH_CONFIDENCE)
    if seed_poses is None:
        pairwise = matcher.apply2(features)
    else:
        pairwise = matcher.apply2(features, _neighbours(seed_poses))  # type: ignore[arg-type]
    matcher.collectGarbage()
    for m in pairwise:
        # cv2 zeroes a confidence above 3 (all matches inliers, as between near-identical
        # video frames); between two frames of a head that is the best pair, not a bad one.
        if m.num_inliers:
            m.confidence = m.num_inliers / (8 + 0.3 * len(m.matches))

    kept = list(cv2.detail.leaveBiggestComponent(features, pairwise, PLACE_CONFIDENCE))
    kept = [int(i) for i in np.asarray(kept).ravel()]
    missing = [i for i in range(len(images)) if i not in kept]
    if len(kept) < 2:
        raise CaptureError(
            f"no two frames of the set overlap enough to be matched ({', '.join(names)}); "
            "check that the frames belong together and overlap by at least a quarter"
        )
    if missing and poses is None and not allow_incomplete:
        _fail_unplaced([names[i] for i in missing], len(images))
    features = [features[i] for i in kept]
    pairwise = _subset_matches(list(pairwise), kept, len(images))
    seeds = None if seed_poses is None else [_rig_rotation(*seed_poses[i]) for i in kept]
    cameras = _cameras(features, pairwise, seeds)
    # cv2's adjuster worked at work scale with a focal per frame; refine at full
    # resolution with the one focal of the lens.
    focal, rotations = adjust_rotations(
        [c.R for c in cameras],
        float(np.median([c.focal for c in cameras])) / work_scale,
        (w / 2, h / 2),
        _pairs(features, pairwise, (w / work_size[0], h / work_size[1])),
        huber_px=HUBER_WORK_PX / work_scale,
    )
    placed: list[int] = []
    misfit = 0.0
    if poses is not None:
        everything, misfit = _place_from_rig(rotations, kept, poses)
        # A programme the matched frames do not follow cannot place the others.
        if misfit <= RIG_MISFIT_DEG:
            placed, rotations, kept = missing, everything, list(range(len(images)))
    unplaced = [names[i] for i in missing if i not in placed]
    if unplaced and not allow_incomplete:
        _fail_unplaced(
            unplaced,
            len(images),
            f"; the matched frames are {misfit:.1f} deg off the head's programme, too far "
            "to place the others from it"
            if poses is not None
            else "",
        )
    rotations = _level(rotations)
    k = np.array([[focal, 0.0, w / 2], [0.0, focal, h / 2], [0.0, 0.0, 1.0]])
    intrinsics = [k] * len(rotations)

    width = (out_width or int(round(2 * math.pi * focal))) // 2 * 2
    # Canvas column 0 looks 180 deg away from frame 0, so frame 0 lands at the centre
    # (yaw 0) and, in a ring of shots, the wrap runs through the middle of the opposite one.
    seam_yaw = _yaw_of(rotations[0]) - math.pi
    used = [images[i] for i in kept]
    result, gains = _compose(used, intrinsics, rotations, width, seam_yaw, seam_scale)
    estimated = [
        [
            round(_wrap_deg(math.degrees(_yaw_of(r) - _yaw_of(rotations[0]))), 2),
            round(_pitch_of(r), 2),
        ]
        for r in rotations
    ]
    used_names = [names[i] for i in kept]
    frames_used = [f.name for i in kept for f in groups[i]]
    rig_only = [names[i] for i in placed]
    warnings = []
    if unplaced:
        warnings.append(f"incomplete: frames not placed: {', '.join(unplaced)}")
    if rig_only:
        warnings.append(
            f"placed from the rig's pose only (no confident match): {', '.join(rig_only)}"
        )
    details: dict[str, object] = {
        "positions": used_names,
        "focal_px": round(focal, 1),
        "poses_yaw_pitch_deg": estimated,
        "exposure_gains": [round(g, 4) for g in gains],
        "incomplete": bool(unplaced),
    }
    if poses is not None:
        details.update(placed_from_rig=rig_only, rig_misfit_deg=round(misfit, 3))
    return StitchResult(
        equirect=result,
        kind="multishot",
        frames_used=frames_used,
        frames_unplaced=unplaced,
        warnings=warnings,
        details=details,
    )


def _fail_unplaced(unplaced: list[str], total: int, why: str = "") -> NoReturn:
    raise CaptureError(
        f"{len(unplaced)} of {total} frames could not be placed: {', '.join(unplaced)} "
        f"(no confident match with the rest of the set){why}"
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


def _scaled_size(w: int, h: int, scale: float) -> tuple[int, int]:
    """A size to resize to by ``scale``; given explicitly, cv2 maps each axis by exactly
    the ratio of the sizes (with ``fx`` alone, the two axes disagree by the rounding)."""
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def _pairs(
    features: list[cv2.detail.ImageFeatures],
    pairwise: list[cv2.detail.MatchesInfo],
    scale: tuple[float, float],
) -> list[PairMatches]:
    """Inlier matches of the confident pairs, in full-size continuous px."""
    points = [np.array([kp.pt for kp in f.keypoints], dtype=np.float64) for f in features]
    out = []
    for m in pairwise:
        i, j = m.src_img_idx, m.dst_img_idx
        if i < 0 or j <= i or m.confidence < PLACE_CONFIDENCE:
            continue
        inliers = np.asarray(m.inliers_mask).ravel().astype(bool)
        pairs = np.array([(d.queryIdx, d.trainIdx) for d in m.matches]).reshape(-1, 2)[inliers]
        if len(pairs):
            out.append(
                PairMatches(
                    i,
                    j,
                    (points[i][pairs[:, 0]] + 0.5) * scale,
                    (points[j][pairs[:, 1]] + 0.5) * scale,
                )
            )
    return out


def _cameras(
    features: list[cv2.detail.ImageFeatures],
    pairwise: list[cv2.detail.MatchesInfo],
    seeds: list[np.ndarray] | None,
) -> list[cv2.detail.CameraParams]:
    estimator = cv2.detail.HomographyBasedEstimator()
    ok, cameras = estimator.apply(features, pairwise, None)  # type: ignore[arg-type]
    if not ok:
        raise CaptureError("the frames' rotations could not be estimated from their matches")
    for cam in cameras:
        cam.R = cam.R.astype(np.float32)
    if seeds is not None:
        focal = float(np.median([c.focal for c in cameras]))
        for cam, seed in zip(cameras, seeds, strict=True):
            cam.R = seed.astype(np.float32)
            cam.focal = focal
    adjuster = cv2.detail.BundleAdjusterRay()
    adjuster.setConfThresh(PLACE_CONFIDENCE)
    ok, cameras = adjuster.apply(features, pairwise, cameras)
    if not ok:
        raise CaptureError("bundle adjustment of the frames' rotations failed")
    return list(cameras)


def _neighbours(poses: list[tuple[float, float]]) -> np.ndarray:
    """uint8 (n, n) mask of the position pairs worth matching under a known programme.

    Pairs at most NEIGHBOUR_SPAN times the widest gap between a position and its nearest
    neighbour apart: in a ring of 12 that is the two next positions either side, where
    matching all 66 pairs would mostly compare frames that cannot overlap.
    """
    axes = np.array([_rig_rotation(*p)[:, 2] for p in poses])
    angles = np.degrees(np.arccos(np.clip(axes @ axes.T, -1.0, 1.0)))
    np.fill_diagonal(angles, np.inf)
    limit = NEIGHBOUR_SPAN * float(angles.min(axis=1).max())
    return (angles <= limit).astype(np.uint8)


def _rig_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """float64 (3, 3) camera -> world rotation of a head pose, in OpenCV axes (y down).

    :func:`stitching.rotation.pose_rotation` is world -> camera in axes with y up;
    transposed it is camera -> world, and flipping y on both sides gives OpenCV's axes.
    """
    flip = np.diag([1.0, -1.0, 1.0])
    return flip @ pose_rotation(pitch_deg, 0.0, yaw_deg).T @ flip


def _place_from_rig(
    rotations: list[np.ndarray], kept: list[int], poses: list[tuple[float, float]]
) -> tuple[list[np.ndarray], float]:
    """Rotations of every position: the estimated ones where matched, the programme's
    (turned onto the matched ones) elsewhere; and the worst matched misfit, deg.

    The turn G minimises sum |R_k - G P_k|^2 over the matched positions k (orthogonal
    Procrustes), R_k estimated and P_k from the programme.
    """
    rig = [_rig_rotation(*p) for p in poses]
    u, _, vt = np.linalg.svd(sum(r @ rig[i].T for r, i in zip(rotations, kept, strict=True)))
    turn = u @ np.diag([1.0, 1.0, float(np.linalg.det(u @ vt))]) @ vt
    misfit = max(
        math.degrees(float(np.linalg.norm(cv2.Rodrigues((turn @ rig[i]).T @ r)[0])))
        for r, i in zip(rotations, kept, strict=True)
    )
    by_index = dict(zip(kept, rotations, strict=True))
    return [by_index.get(i, turn @ rig[i]) for i in range(len(poses))], misfit


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
    u = v = None
    if min(bw, bh) >= 4 * _MAP_STEP:
        # The map is smooth where the box stays in front of the camera: build it every
        # _MAP_STEP px (one sample beyond each edge) and interpolate, 0.01 px at most
        # off. cv2.resize puts coarse sample j at fine (j + 0.5) * step - 0.5.
        s = _MAP_STEP
        nx, ny = -(-bw // s) + 2, -(-bh // s) + 2
        cu, cv, cz = _frame_coords(
            k,
            r,
            x0 + (np.arange(nx) - 0.5) * s - 0.5,
            y0 + (np.arange(ny) - 0.5) * s - 0.5,
            width,
            seam_yaw,
        )
        if (cz > _MIN_Z).all():
            size = (nx * s, ny * s)
            u = cv2.resize(cu, size, interpolation=cv2.INTER_LINEAR)[s : s + bh, s : s + bw]
            v = cv2.resize(cv, size, interpolation=cv2.INTER_LINEAR)[s : s + bh, s : s + bw]
            ok = np.ones((bh, bw), dtype=bool)
    if u is None or v is None:
        u, v, z = _frame_coords(
            k, r, np.arange(x0, x0 + bw, dtype=np.float64), np.arange(y0, y0 + bh), width, seam_yaw
        )
        ok = z > _MIN_Z
    h, w = img.shape[:2]
    ok &= (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    # Outside the frame, BORDER_REPLICATE continues its edge: the blender's coarse bands
    # reach past a mask's edge, and a step there would show as a faint line.
    warped = cv2.remap(img, u, v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return warped, (ok * 255).astype(np.uint8)


def _frame_coords(
    k: np.ndarray,
    r: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    width: int,
    seam_yaw: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where canvas columns ``xs`` x rows ``ys`` (px, may be fractional) land in a frame.

    Returns
    -------
    tuple of np.ndarray
        float32 (len(ys), len(xs)) each: u, v in cv2.remap's convention, and the depth z
        in front of the camera (u, v are meaningless where z <= 0).
    """
    height = width // 2
    yaw = seam_yaw + (xs + 0.5) / width * 2 * math.pi
    pitch = (0.5 - (ys + 0.5) / height) * math.pi
    cp = np.cos(pitch).astype(np.float32)[:, None]
    sp = np.sin(pitch).astype(np.float32)[:, None]
    sy, cy = np.sin(yaw), np.cos(yaw)
    m = k @ r.T
    # The world ray of a canvas pixel is (cp sy, -sp, cp cy): each camera coordinate is
    # an outer product plus a column, cheap to build in float32.
    cam = [
        cp * (m[i, 0] * sy + m[i, 2] * cy).astype(np.float32)[None, :] - sp * np.float32(m[i, 1])
        for i in range(3)
    ]
    z = cam[2]
    safe = np.where(z > _MIN_Z, z, np.float32(1.0))
    return cam[0] / safe - np.float32(0.5), cam[1] / safe - np.float32(0.5), z


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
        ss = _scaled_size(size[0], size[1], seam_scale)
        ks = k.copy()
        ks[0] *= ss[0] / size[0]
        ks[1] *= ss[1] / size[1]
        small = cv2.resize(img, ss, interpolation=cv2.INTER_AREA)
        for box in _pieces(ks, r, ss, sw, seam_yaw):
            wimg, wmask = _warp(small, ks, r, box, sw, seam_yaw)
            pieces_small.append(_Piece(i, *box))
            warped_small.append(wimg)
            masks_small.append(wmask)
    corners = [(p.x, p.y) for p in pieces_small]
    gains = _gains(pieces_small, warped_small, masks_small, len(images))
    masks_small = _give_up_clipped(pieces_small, warped_small, masks_small, (sw, sw // 2))

    # Seams are cut on the exposure-matched copies, so colour cost means content.
    matched = [
        im.astype(np.float32) * np.float32(gains[p.index])
        for im, p in zip(warped_small, pieces_small, strict=True)
    ]
    seam_finder = cv2.detail.GraphCutSeamFinder("COST_COLOR")
    seam_masks = seam_finder.find(
        matched,  # type: ignore[arg-type]
        corners,
        masks_small,  # type: ignore[arg-type]
    )

    bands = max(1, round(math.log2(width / BLEND_SPAN)))
    blender = cv2.detail.MultiBandBlender(0, bands)
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
            # Gains are applied unclipped: int16 holds a brightened highlight until the end.
            g = gains[piece.index]
            lifted = cv2.multiply(wimg, (g, g, g, 0.0), dtype=cv2.CV_16S)
            blender.feed(lifted, mask, (box[0], box[1]))
    result, _ = blender.blend(None, None)  # type: ignore[call-overload]
    return cv2.convertScaleAbs(result), gains


def _gains(
    pieces: list[_Piece], warped: list[np.ndarray], masks: list[np.ndarray], n: int
) -> list[float]:
    """One exposure gain per frame from the overlaps of the seam-scale pieces.

    Each overlap of two frames gives the ratio of their summed intensities over pixels
    that neither clips nor leaves in the dark; the log gains are fitted to those ratios
    by least squares (weighted by overlap size) with their mean held at 0. Unlike cv2's
    gain compensator this has no pull towards 1, which shrinks real exposure steps, and
    a frame's pieces at either end of the canvas share its one gain.
    """
    sums: dict[tuple[int, int], list[float]] = {}
    grays = [w.astype(np.float32).mean(axis=2) for w in warped]
    # A pixel any channel of which clips says nothing about exposure.
    usable = [
        (m > 0) & (w.max(axis=2) < GAIN_CLIP) & (w.min(axis=2) > GAIN_DARK)
        for w, m in zip(warped, masks, strict=True)
    ]
    for a, pa in enumerate(pieces):
        for b, pb in enumerate(pieces):
            if pa.index >= pb.index:
                continue
            x0, y0 = max(pa.x, pb.x), max(pa.y, pb.y)
            x1, y1 = min(pa.x + pa.w, pb.x + pb.w), min(pa.y + pa.h, pb.y + pb.h)
            if x1 <= x0 or y1 <= y0:
                continue
            ga = grays[a][y0 - pa.y : y1 - pa.y, x0 - pa.x : x1 - pa.x]
            gb = grays[b][y0 - pb.y : y1 - pb.y, x0 - pb.x : x1 - pb.x]
            ok = (
                usable[a][y0 - pa.y : y1 - pa.y, x0 - pa.x : x1 - pa.x]
                & usable[b][y0 - pb.y : y1 - pb.y, x0 - pb.x : x1 - pb.x]
            )
            acc = sums.setdefault((pa.index, pb.index), [0.0, 0.0, 0.0])
            acc[0] += float(ga[ok].sum())
            acc[1] += float(gb[ok].sum())
            acc[2] += float(ok.sum())
    rows, rhs, weights = [], [], []
    for (i, j), (sa, sb, count) in sums.items():
        if count < GAIN_MIN_PIXELS:
            continue
        # gain_i * a = gain_j * b over the overlap
        row = np.zeros(n)
        row[i], row[j] = 1.0, -1.0
        rows.append(row)
        rhs.append(math.log(sb / sa))
        weights.append(math.sqrt(count))
    rows.append(np.ones(n))
    rhs.append(0.0)
    weights.append(math.sqrt(sum(c for *_, c in sums.values()) + 1.0))
    w = np.array(weights)[:, None]
    log_gains, *_ = np.linalg.lstsq(np.array(rows) * w, np.array(rhs) * w[:, 0], rcond=None)
    return [float(g) for g in np.exp(log_gains)]


def _give_up_clipped(
    pieces: list[_Piece],
    warped: list[np.ndarray],
    masks: list[np.ndarray],
    canvas: tuple[int, int],
) -> list[np.ndarray]:
    """Masks for the seam finder in which a frame gives up its clipped pixels wherever
    another frame sees them unclipped (a blown sky in one frame is often fine in the
    next one, which was exposed for it)."""
    clean = np.zeros(canvas[::-1], dtype=np.int32)
    clipped = []
    for p, w, m in zip(pieces, warped, masks, strict=True):
        c = (w.max(axis=2) >= GAIN_CLIP) & (m > 0)
        clipped.append(c)
        clean[p.y : p.y + p.h, p.x : p.x + p.w] += (m > 0) & ~c
    out = []
    for p, m, c in zip(pieces, masks, clipped, strict=True):
        elsewhere = clean[p.y : p.y + p.h, p.x : p.x + p.w] > 0
        out.append(np.where(c & elsewhere, 0, m).astype(np.uint8))
    return out


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
