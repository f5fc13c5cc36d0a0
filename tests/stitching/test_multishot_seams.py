"""Multi-shot seams and gains: a near object is not cut, a ring has no step at the wrap."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from stitching.frames import Frame
from stitching.multishot import stitch_frames
from stitching.multishot.compose import FIXED_GAIN_LIMIT, compose
from stitching.multishot.rig import rig_rotation
from tests.stitching.harness import render_views

SIZE = (640, 480)
HFOV = 75.0
WIDTH = 2048
YELLOW = (40, 220, 240)  # BGR; bright but below the clip level the seam finder avoids
RADIUS_PX = 28  # of the frame


def _focal() -> float:
    return (SIZE[0] / 2) / math.tan(math.radians(HFOV) / 2)


def _plant(frame: Frame, frame_yaw: float, object_yaw: float) -> Frame:
    """A yellow disc drawn where yaw ``object_yaw`` (deg, on the horizon) lands in a frame
    looking along ``frame_yaw``."""
    x = SIZE[0] / 2 + _focal() * math.tan(math.radians(object_yaw - frame_yaw)) - 0.5
    img = frame.image.copy()
    cv2.circle(img, (int(round(x)), SIZE[1] // 2), RADIUS_PX, YELLOW, -1, cv2.LINE_AA)
    return Frame(frame.name, img)


def _blobs(canvas: np.ndarray) -> list[tuple[int, int, int]]:
    """(area, width, height) in px of every yellow blob near yaw 22.5 deg, pitch 0."""
    x0 = int((math.radians(5.0) + math.pi) / (2 * math.pi) * WIDTH)
    x1 = int((math.radians(40.0) + math.pi) / (2 * math.pi) * WIDTH)
    y0, y1 = WIDTH // 4 - 60, WIDTH // 4 + 60
    region = canvas[y0:y1, x0:x1].astype(np.int16)
    near = np.abs(region - np.array(YELLOW, np.int16)).max(axis=2) < 40
    n, _, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8))
    return [
        (int(s[cv2.CC_STAT_AREA]), int(s[cv2.CC_STAT_WIDTH]), int(s[cv2.CC_STAT_HEIGHT]))
        for s in stats[1:n]
        if s[cv2.CC_STAT_AREA] > 30
    ]


def test_the_seam_goes_round_a_near_object_parallax_moved(pano: np.ndarray) -> None:
    frames, poses = render_views(
        pano, rows=[(0.0, 8)], hfov_deg=HFOV, size=SIZE, rng=np.random.default_rng(4), max_ev=0.0
    )
    # Frames at yaw 0 and 45 overlap from 7.5 to 37.5 deg; the object stands across the
    # middle of the overlap, 3 deg further right in the second frame (parallax).
    a = _plant(frames[0], poses[0][0], 21.0)
    b = _plant(frames[1], poses[1][0], 24.0)
    f = _focal()
    k = np.array([[f, 0.0, SIZE[0] / 2], [0.0, f, SIZE[1] / 2], [0.0, 0.0, 1.0]])
    out, _ = compose(
        [a.image, b.image],
        [k, k],
        [rig_rotation(*poses[0]), rig_rotation(*poses[1])],
        WIDTH,
        -math.pi,
        0.5,
    )
    alone, _ = compose([a.image], [k], [rig_rotation(*poses[0])], WIDTH, -math.pi, 0.5)
    (disc,) = _blobs(alone)  # the whole object as one frame sees it
    found = _blobs(out)
    # A seam through the object would show part of each copy: one blob a third wider
    # than the object (a cut at the middle of the overlap: 11 deg instead of 8).
    assert found, "the object is gone"
    for area, w, h in found:
        assert area == pytest.approx(disc[0], rel=0.12), (found, disc)
        assert w == pytest.approx(disc[1], abs=3) and h == pytest.approx(disc[2], abs=3)


def test_a_planted_gain_step_leaves_no_step_at_the_wrap_column(pano: np.ndarray) -> None:
    frames, _ = render_views(
        pano, rows=[(0.0, 8)], hfov_deg=HFOV, size=SIZE, rng=np.random.default_rng(7), max_ev=0.0
    )
    # One exposure, but the frame at yaw 180 (the wrap column runs through its middle)
    # and its left neighbour come out 1.5x brighter, as a wrongly kept auto exposure
    # would: a step of 0.6 EV within the rotation.
    frames = [
        Frame(fr.name, cv2.convertScaleAbs(fr.image, alpha=1.5)) if i in (3, 4) else fr
        for i, fr in enumerate(frames)
    ]
    result = stitch_frames(frames, yaw_step_deg=45.0, out_width=WIDTH, fixed_exposure=True)
    gains = np.array(result.details["exposure_gains"])  # type: ignore[arg-type]
    assert (np.abs(np.log(gains)) <= math.log(FIXED_GAIN_LIMIT) + 1e-6).all()
    out = result.equirect.astype(np.float32).mean(axis=2)
    rows = out[(out[:, 0] > 0) & (out[:, -1] > 0)]
    assert len(rows) > 300
    across = np.abs(rows[:, 0] - rows[:, -1]).mean()
    beside = np.mean([np.abs(rows[:, i] - rows[:, i + 1]).mean() for i in (1, 2, -3, -2)])
    assert across < 1.5 * beside, (across, beside)


def test_one_frame_shot_at_its_own_exposure_gets_its_own_gain(pano: np.ndarray) -> None:
    frames, _ = render_views(
        pano, rows=[(0.0, 8)], hfov_deg=HFOV, size=SIZE, rng=np.random.default_rng(7), max_ev=0.0
    )
    # A tripod set, but frame 2 came out 1 EV darker (auto exposure left on, as in the
    # lunchroom set): every overlap of that frame says so, not just one.
    frames[2] = Frame(frames[2].name, cv2.convertScaleAbs(frames[2].image, alpha=0.5))
    result = stitch_frames(frames, yaw_step_deg=45.0, out_width=1024, fixed_exposure=True)
    gains = np.array(result.details["exposure_gains"])  # type: ignore[arg-type]
    others = np.delete(gains, 2)
    assert gains[2] / np.median(others) == pytest.approx(2.0, rel=0.1), gains
    assert (np.abs(np.log(others)) <= math.log(FIXED_GAIN_LIMIT) + 1e-6).all()
