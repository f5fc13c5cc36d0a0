"""Pairwise matching of a set's frames and the rotations estimated from the matches.

OpenCV's cv2.detail steps: the matches among the largest connected set re-indexed, the
inlier matches of the confident pairs for :func:`stitching.bundle.adjust_rotations`,
rotations from homographies (or seeded from the head's programme) refined by cv2's ray
bundle adjuster, and which pairs are worth matching at all under a known programme.
"""

from __future__ import annotations

import cv2
import numpy as np

from config.errors import CaptureError
from stitching.bundle import PairMatches
from stitching.multishot.rig import rig_rotation

MATCH_CONFIDENCE = 0.65  # Lowe ratio in BestOf2NearestMatcher
PLACE_CONFIDENCE = 1.0  # pair confidence needed to join the connected set
NEIGHBOUR_SPAN = 2.2  # with a programme, pairs further apart than this many steps are not matched


def subset_matches(
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


def inlier_pairs(
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


def estimate_cameras(
    features: list[cv2.detail.ImageFeatures],
    pairwise: list[cv2.detail.MatchesInfo],
    seeds: list[np.ndarray] | None,
) -> list[cv2.detail.CameraParams]:
    """Rotations and focal lengths from the matches, refined by cv2's ray bundle adjuster.

    ``seeds`` (camera -> world rotations from the head's programme) replace the
    homography estimate, with the median focal of that estimate. CaptureError when either
    step fails.
    """
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


def neighbour_mask(poses: list[tuple[float, float]]) -> np.ndarray:
    """uint8 (n, n) mask of the position pairs worth matching under a known programme.

    Pairs at most NEIGHBOUR_SPAN times the widest gap between a position and its nearest
    neighbour apart: in a ring of 12 that is the two next positions either side, where
    matching all 66 pairs would mostly compare frames that cannot overlap.
    """
    axes = np.array([rig_rotation(*p)[:, 2] for p in poses])
    angles = np.degrees(np.arccos(np.clip(axes @ axes.T, -1.0, 1.0)))
    np.fill_diagonal(angles, np.inf)
    limit = NEIGHBOUR_SPAN * float(angles.min(axis=1).max())
    return (angles <= limit).astype(np.uint8)
