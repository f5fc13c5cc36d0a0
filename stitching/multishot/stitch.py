"""The multi-shot stitch, step by step: fuse brackets, match, place, level, compose.

:func:`stitch_frames` runs the steps of :mod:`stitching.multishot` in order and reports
every frame it could not place by name.
"""

from __future__ import annotations

import math
from typing import NoReturn

import cv2
import numpy as np

from config.errors import CaptureError
from stitching.bundle import adjust_rotations
from stitching.frames import Frame, StitchResult
from stitching.multishot.compose import compose, scaled_size
from stitching.multishot.matching import (
    MATCH_CONFIDENCE,
    PLACE_CONFIDENCE,
    estimate_cameras,
    inlier_pairs,
    neighbour_mask,
    subset_matches,
)
from stitching.multishot.rig import (
    RIG_MISFIT_DEG,
    level,
    pitch_of,
    place_from_rig,
    rig_rotation,
    wrap_deg,
    yaw_of,
)

WORK_MEGAPIX = 1.3  # keypoints: finer costs SIFT time, coarser costs pose accuracy (dB)
SEAM_MEGAPIX = 0.1
HUBER_WORK_PX = 1.0  # match residual (px at work scale) beyond which it counts linearly


def stitch_frames(
    frames: list[Frame],
    *,
    yaw_step_deg: float | None = None,
    poses: list[tuple[float, float]] | None = None,
    brackets: int = 1,
    allow_incomplete: bool = False,
    out_width: int | None = None,
    fixed_exposure: bool = False,
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
    fixed_exposure:
        True when every position was shot at one exposure: the exposure gains are then
        held to a smooth, periodic function of yaw (so the ring closes across the wrap)
        within :data:`~stitching.multishot.compose.FIXED_GAIN_LIMIT` of 1 instead of one
        free gain per frame, so that parallax, someone walking through an overlap or a
        clipped window cannot brighten one frame to twice its neighbours. The rule the
        pipeline follows (``workers/pipeline/stages/source.py``): True when the capture's
        sidecar gives the head's ``rig`` (a programmed tripod head, whose capture app
        locks the exposure; bracketed positions are fused first, so each position's
        fused exposure is alike too), False otherwise. Within a fixed-exposure set, a
        frame all of whose overlaps find it off in one direction (auto exposure left on:
        the lunchroom frame facing the windows is about 1 EV darker than its
        neighbours) still gets a gain of its own; without a rig every gain is free. EXIF equality
        (ExposureTime, FNumber, ISO on every frame) would be the better test; the
        pipeline reads only the first frame's EXIF and no FNumber/ISO yet.

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
    work_size = scaled_size(w, h, work_scale)
    for img in images:
        small = cv2.resize(img, work_size, interpolation=cv2.INTER_AREA)
        features.append(cv2.detail.computeImageFeatures2(finder, small))
    matcher = cv2.detail.BestOf2NearestMatcher(False, MATCH_CONFIDENCE)
    if seed_poses is None:
        pairwise = matcher.apply2(features)
    else:
        pairwise = matcher.apply2(features, neighbour_mask(seed_poses))  # type: ignore[arg-type]
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
    pairwise = subset_matches(list(pairwise), kept, len(images))
    seeds = None if seed_poses is None else [rig_rotation(*seed_poses[i]) for i in kept]
    cameras = estimate_cameras(features, pairwise, seeds)
    # cv2's adjuster worked at work scale with a focal per frame; refine at full
    # resolution with the one focal of the lens.
    focal, rotations = adjust_rotations(
        [c.R for c in cameras],
        float(np.median([c.focal for c in cameras])) / work_scale,
        (w / 2, h / 2),
        inlier_pairs(features, pairwise, (w / work_size[0], h / work_size[1])),
        huber_px=HUBER_WORK_PX / work_scale,
    )
    placed: list[int] = []
    misfit = 0.0
    if poses is not None:
        everything, misfit = place_from_rig(rotations, kept, poses)
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
    rotations = level(rotations)
    k = np.array([[focal, 0.0, w / 2], [0.0, focal, h / 2], [0.0, 0.0, 1.0]])
    intrinsics = [k] * len(rotations)

    width = (out_width or int(round(2 * math.pi * focal))) // 2 * 2
    # Canvas column 0 looks 180 deg away from frame 0, so frame 0 lands at the centre
    # (yaw 0) and, in a ring of shots, the wrap runs through the middle of the opposite one.
    seam_yaw = yaw_of(rotations[0]) - math.pi
    used = [images[i] for i in kept]
    result, gains = compose(
        used, intrinsics, rotations, width, seam_yaw, seam_scale, fixed_exposure=fixed_exposure
    )
    estimated = [
        [
            round(wrap_deg(math.degrees(yaw_of(r) - yaw_of(rotations[0]))), 2),
            round(pitch_of(r), 2),
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
        "fixed_exposure": fixed_exposure,
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
