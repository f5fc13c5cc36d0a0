"""Which way is up? The vertical found in the image alone, over the whole sphere.

For a panorama without a pose (no GPano pose, no sidecar orientation, no gravity data from
the camera) the up direction is read from the scene's structure: walls, door frames,
shelves and posts are vertical; floors, ceilings and shelves add two horizontal directions
at right angles (a "Manhattan world"). Every direction is searched, so a camera held on
its side (90 deg) or upside down (180 deg) is found too; :mod:`stitching.level` measures
the residual tilt after a levelling from the same structure.

1. The equirect is shrunk to :data:`WORK_WIDTH` (area averaging) and the six cube faces
   are rendered at :data:`stitching.upright_lines.FACE_PX`; cv2's line segment detector
   finds straight segments on each. A segment and the camera centre span a plane; its unit
   normal is kept, weighted by the segment's length.
2. The direction most normals are perpendicular to is a vanishing direction: a robust
   score over a near-uniform grid of the sphere, then a finer search and a least-squares
   refinement on its inliers. Any horizontal direction is at right angles to the vertical,
   so the second is searched on the great circle at right angles to the first; the third
   is their cross product. The best-supported direction near the prior joins them when it
   is none of the three (a scene that is not a box).
3. Which candidate is vertical: each is scored by three cues, relative to the others —
   the share of segments within 30 deg of its horizon (eye-level structure surrounds the
   camera), how smooth its two caps are (sky, ceiling, floor) and how much brighter one
   cap is than the other. The candidate nearest the prior is kept unless another scores
   :data:`AXIS_MARGIN` higher. Which end is up: the brighter cap (brightest channel: a blue
   sky is brighter than grey rock there, not in luma), when the caps differ by
   :data:`MIN_CONTRAST` standard deviations; otherwise the end nearer the prior, reported
   as not decided, and a large turn made on that guess is not trusted. A turn beyond
   :data:`NEAR_DEG` less sure than :data:`TURN_CONFIDENCE` gives way to the vertical
   nearest the prior (a big bright window at the side does not lay a room on its side).

A scene without straight lines (a summit, a forest) has confidence 0: the estimate is a
record, not a levelling. About 0.13 s of CPU on an 8K equirect (0.1 s of it shrinking and
finding segments); :func:`decide_up` on a found :class:`Structure` about 20 ms.

Pure array code; conventions of :mod:`stitching.sphere` (x right, y up, z forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from stitching.upright_lines import (
    INLIER_DEG,
    MIN_SEGMENTS,
    Segments,
    find_segments,
    fit_direction,
    local_best,
    manhattan_axes,
    refine,
    support_scores,
)

#: The equirect is shrunk to this width (an exact quarter of 8K and half of 4K).
WORK_WIDTH = 2048
#: Weighted segment length (face sides) on the vertical that makes it fully supported.
FULL_SUPPORT = 4.0
#: Segments on the vertical that make it fully supported.
FULL_LINES = 40
#: Cap contrast, in brightness standard deviations, that decides which end is up.
MIN_CONTRAST = 0.25
#: Another candidate is up instead of the one nearest the prior when its cue score is
#: this much (natural log) higher.
AXIS_MARGIN = 0.3
#: The prior's neighbourhood searched for a vertical besides the Manhattan axes (deg).
NEAR_DEG = 25.0
#: Confidence cap of a large turn whose sign was not decided.
UNDECIDED_SIGN = 0.45
#: A turn beyond NEAR_DEG less confident than this gives way to the vertical nearest the
#: prior, if that one is surer.
TURN_CONFIDENCE = 0.5


@dataclass(frozen=True, slots=True)
class UpEstimate:
    """The up direction read from a panorama's structure.

    ``up`` is the unit true-up direction in the panorama's frame; ``pitch_deg``/
    ``roll_deg`` the GPano-style pose of the panorama, so
    :func:`stitching.sphere.pose_rotation` of them levels it; ``tilt_deg`` its angle from
    the prior (the panorama's own up unless one was given). ``confidence`` 0 (no idea)
    .. 1; ``sd_deg`` the standard error of ``up``; ``lines`` the segments on the vertical;
    ``sign_decided`` False when the scene did not say which end of the vertical is up
    (the caps are alike): the end nearer the prior is kept, and a large turn made on that
    guess has a confidence of at most :data:`UNDECIDED_SIGN`; ``reason`` in words.
    """

    pitch_deg: float
    roll_deg: float
    tilt_deg: float
    confidence: float
    lines: int
    sign_decided: bool
    sd_deg: float
    up: tuple[float, float, float]
    reason: str = ""


def _work_images(equirect: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey ``WORK_WIDTH`` equirect and the 256 x 128 brightness (max channel, float64).

    Shrunk before any conversion (cheaper than converting the full size). The brightest
    channel, not luma, tells a blue sky from a grey rock below it.
    """
    work = equirect
    if equirect.shape[1] != WORK_WIDTH:
        shrink = equirect.shape[1] > WORK_WIDTH
        work = cv2.resize(
            equirect, (WORK_WIDTH, WORK_WIDTH // 2),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
        )  # fmt: skip
    small = cv2.resize(work, (256, 128), interpolation=cv2.INTER_AREA)
    bright = small.max(axis=2) if small.ndim == 3 else small
    grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY) if work.ndim == 3 else work
    return grey, bright.astype(np.float64)


@dataclass(frozen=True, slots=True)
class Structure:
    """What a panorama's pixels say about up, before a prior picks among it.

    ``segments`` the straight segments; ``luma`` (brightest channel) and ``texture``
    (gradient magnitude), 256 x 128 equirects (float64) for the cap cues; ``axes`` (3, 3)
    the Manhattan vanishing directions (rows), None with too few segments.
    """

    segments: Segments
    luma: np.ndarray
    texture: np.ndarray
    axes: np.ndarray | None


def find_structure(equirect: np.ndarray) -> Structure:
    """Segments, cap images and vanishing axes of an equirect: the costly part.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR or (H, W) grey full-sphere equirect (2:1), any size.
    """
    work, luma = _work_images(equirect)
    seg = find_segments(work)
    small = cv2.resize(work, (512, 256), interpolation=cv2.INTER_AREA).astype(np.float32)
    grad = np.hypot(cv2.Sobel(small, cv2.CV_32F, 1, 0), cv2.Sobel(small, cv2.CV_32F, 0, 1))
    texture = cv2.resize(grad, (256, 128), interpolation=cv2.INTER_AREA).astype(np.float64)
    axes = manhattan_axes(seg) if len(seg.weights) >= MIN_SEGMENTS else None
    return Structure(segments=seg, luma=luma, texture=texture, axes=axes)


def estimate_up(equirect: np.ndarray, prior: np.ndarray | None = None) -> UpEstimate:
    """Estimate the true up direction of a full-sphere equirect from its structure.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR or (H, W) grey full-sphere equirect (2:1), any size; it is
        shrunk to :data:`WORK_WIDTH` first (about 0.1 s of CPU for an 8K one).
    prior:
        Unit direction (3,) where up is expected in the panorama's frame; None = (0, 1, 0),
        the panorama's own up.

    Returns
    -------
    UpEstimate
        With ``confidence`` 0 and the prior's up when there are too few lines.
    """
    return decide_up(find_structure(equirect), prior)


def decide_up(structure: Structure, prior: np.ndarray | None = None) -> UpEstimate:
    """Which candidate is vertical, which end is up, and how sure that is (module step 3).

    Parameters
    ----------
    structure:
        :func:`find_structure` of the panorama.
    prior:
        Unit direction (3,) where up is expected in the panorama's frame; None = (0, 1, 0).
    """
    seg = structure.segments
    expected = np.array([0.0, 1.0, 0.0]) if prior is None else np.asarray(prior, np.float64)
    expected = expected / np.linalg.norm(expected)
    if structure.axes is None:
        return _unknown(expected, f"{len(seg.weights)} straight segments: too few")
    cands = [a * (1.0 if a @ expected >= 0 else -1.0) for a in structure.axes]
    near = local_best(seg, local_best(seg, expected, NEAR_DEG, 2.5), 2.5, 0.5)
    near = refine(seg, near)
    support = support_scores(np.stack([*cands, near]), seg, band_deg=INLIER_DEG)
    # A vertical near the prior that is none of the axes (a scene that is not a box), if
    # it is as well supported as the weaker axes and no blur of one of them.
    if max(abs(float(a @ near)) for a in cands) < math.cos(math.radians(10.0)) and (
        support[3] >= np.sort(support[:3])[1]
    ):
        cands.append(near * (1.0 if near @ expected >= 0 else -1.0))
    cands_arr = np.stack(cands)
    score, contrast = _cues(structure, cands_arr)
    k_near = int(np.argmax(cands_arr @ expected))
    k_best = int(np.argmax(score))
    k = k_best if score[k_best] - score[k_near] >= AXIS_MARGIN else k_near
    found = _judge(structure, cands_arr, (k, k_near), score, contrast, expected, flip=True)
    if found.tilt_deg > NEAR_DEG and found.confidence < TURN_CONFIDENCE:
        # Too unsure to turn the panorama onto its side or over: the vertical nearest the
        # prior, unflipped, when that one is surer - less sure by the turn's confidence.
        kept = _judge(structure, cands_arr, (k_near, k_near), score, contrast, expected)
        conf = round(kept.confidence * (1.0 - found.confidence), 2)
        if conf > found.confidence:
            return replace(
                kept,
                confidence=conf,
                reason=f"{kept.reason}; a turn of {found.tilt_deg:.0f}° was too unsure "
                f"(confidence {found.confidence:.2f})",
            )
    return found


def _judge(
    structure: Structure,
    cands: np.ndarray,
    chosen: tuple[int, int],
    score: np.ndarray,
    contrast: np.ndarray,
    expected: np.ndarray,
    *,
    flip: bool = False,
) -> UpEstimate:
    """The estimate of candidate ``chosen[0]`` (``chosen[1]`` is the one nearest the prior)."""
    seg = structure.segments
    k, k_near = chosen
    margin = float(score[k] - np.delete(score, k).max())  # < 0: the cues prefer another
    up = cands[k]
    spread = max(float(structure.luma.std()), 1.0)
    signed = float(contrast[k]) / spread  # + : the end nearer the prior is brighter
    sign_decided = abs(signed) >= MIN_CONTRAST and (flip or signed > 0)
    if flip and sign_decided and signed < 0:
        up = -up  # the bright cap (sky, ceiling lights) is up
    up, inliers, sd = fit_direction(seg, up)
    count = int(inliers.sum())
    conf = min(1.0, float(seg.weights[inliers].sum()) / FULL_SUPPORT)
    conf *= min(1.0, count / FULL_LINES) * max(0.0, 1.0 - sd / 1.0)
    turned = float(up @ expected) < math.cos(math.radians(NEAR_DEG))
    if turned:  # a large turn rests on the cues: as sure as their margin
        conf *= min(1.0, max(0.0, margin / (2.0 * AXIS_MARGIN)))
    if not sign_decided and turned:
        conf = min(conf, UNDECIDED_SIGN)  # on its side, but which side is up is a guess
    tilt = math.degrees(math.acos(float(np.clip(up @ expected, -1.0, 1.0))))
    unsure = "" if sign_decided else "; which end is up is not decided"
    return UpEstimate(
        pitch_deg=round(math.degrees(math.asin(float(np.clip(up[2], -1.0, 1.0)))), 2),
        roll_deg=round(math.degrees(math.atan2(-float(up[0]), float(up[1]))), 2),
        tilt_deg=round(tilt, 2),
        confidence=round(conf, 2),
        lines=count,
        sign_decided=sign_decided,
        sd_deg=round(sd, 3),
        up=(float(up[0]), float(up[1]), float(up[2])),
        reason=(
            f"{count} segments on the vertical (sd {sd:.2f}°), "
            f"{'nearest the expected up' if k == k_near else 'another axis'} "
            f"(cue margin {margin:.2f}), cap contrast {signed:+.2f}{unsure}"
        ),
    )


def _cues(structure: Structure, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log score of each candidate as the vertical, and its signed cap contrast (luma).

    A cap that is mostly black (not covered: a one-row tripod set) says nothing: its cue is
    neutral (the mean of the others) and its contrast 0.
    """
    seg = structure.segments
    dirs, whole = _luma_grid(structure.luma.shape[1], structure.luma.shape[0])
    area = whole * (structure.luma.ravel() > 2.0)
    cos = np.einsum("pk,ck->pc", dirs, cands)  # (pixels, candidates)
    band = np.array([seg.weights[np.abs(seg.middles @ c) < 0.5].sum() for c in cands])
    caps, top, bottom = np.abs(cos) > 0.7, cos > 0.5, cos < -0.5
    tex = structure.texture.ravel()[:, None]
    smooth = _mean(np.ones_like(tex), caps, area) / np.maximum(_mean(tex, caps, area), 1e-6)
    luma = structure.luma.ravel()[:, None]
    contrast = _mean(luma, top, area) - _mean(luma, bottom, area)
    seen = [_mean(area[:, None] > 0, m, whole) >= 0.5 for m in (caps, top, bottom)]
    contrast = np.where(seen[1] & seen[2], contrast, 0.0)
    cues = [band, _neutral(smooth, seen[0]), _neutral(np.abs(contrast), seen[1] & seen[2])]
    score = sum(np.log(np.maximum(c, 1e-9) / max(float(c.mean()), 1e-9)) for c in cues)
    return np.asarray(score), contrast


def _neutral(cue: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``cue`` with the invalid entries set to the mean of the valid ones (1 if none)."""
    fill = float(cue[valid].mean()) if valid.any() else 1.0
    return np.where(valid, cue, fill)


def _mean(values: np.ndarray, mask: np.ndarray, area: np.ndarray) -> np.ndarray:
    w = mask * area[:, None]
    return (values * w).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-9)


def _unknown(expected: np.ndarray, reason: str) -> UpEstimate:
    return UpEstimate(
        pitch_deg=round(math.degrees(math.asin(float(np.clip(expected[2], -1.0, 1.0)))), 2),
        roll_deg=round(math.degrees(math.atan2(-float(expected[0]), float(expected[1]))), 2),
        tilt_deg=0.0, confidence=0.0, lines=0, sign_decided=False, sd_deg=90.0,
        up=(float(expected[0]), float(expected[1]), float(expected[2])),
        reason=reason,
    )  # fmt: skip


@cache
def _luma_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit direction (width * height, 3) and solid-angle weight of each small-equirect pixel."""
    yaw = ((np.arange(width) + 0.5) / width - 0.5) * (2.0 * math.pi)
    pitch = (0.5 - (np.arange(height) + 0.5) / height) * math.pi
    y, p = np.meshgrid(yaw, pitch)
    dirs = np.stack([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)], axis=-1)
    return dirs.reshape(-1, 3), np.cos(p).ravel()
