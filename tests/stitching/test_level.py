"""The level check on a real panorama: the Gear 360 street frame, stitched with its profile.

The camera was hand-held about 10° off level; :func:`estimate_level` of its stitch gives
the pose that levels it, and levelled through that pose it reads level. Rolled by a known
5° it reads 5°; a texture-free sphere (and Pannellum's summit, no straight verticals)
gives no confident estimate.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stitching.equirect import rotate_equirect
from stitching.level import estimate_level
from stitching.sphere import pose_rotation
from tests.support.data import stitch_builtin

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def street() -> np.ndarray:
    frame = cv2.imread(str(DATA / "stitching" / "gear360_extract_cynricfu.jpg"))
    assert frame is not None
    return stitch_builtin(frame, make="SAMSUNG", model="SM-C200").equirect


@pytest.fixture(scope="module")
def levelled(street: np.ndarray) -> np.ndarray:
    est = estimate_level(street)
    assert est.confidence >= 0.8 and est.tilt_deg is not None and est.tilt_deg > 5, est
    return rotate_equirect(street, pose_rotation(est.pitch_deg, est.roll_deg))


def test_a_levelled_panorama_reads_level(levelled: np.ndarray) -> None:
    est = estimate_level(levelled)
    assert est.confidence >= 0.8 and est.tilt_deg is not None and est.tilt_deg < 0.5, est


@pytest.mark.parametrize(("pitch", "roll"), [(0.0, 5.0), (0.0, -5.0), (3.0, 0.0)])
def test_a_known_tilt_is_measured_within_a_degree(
    levelled: np.ndarray, pitch: float, roll: float
) -> None:
    # The levelling rotation of a frame posed at (pitch, roll) is pose_rotation(pitch, roll);
    # its inverse poses the level panorama so.
    tilted = rotate_equirect(levelled, pose_rotation(pitch, roll).T)
    est = estimate_level(tilted)
    assert est.confidence >= 0.8, est
    assert est.pitch_deg == pytest.approx(pitch, abs=1.0) and est.roll_deg == pytest.approx(
        roll, abs=1.0
    ), est


def test_the_levelling_applied_is_measured_through(street: np.ndarray) -> None:
    first = estimate_level(street)
    after = estimate_level(street, pose_rotation(first.pitch_deg, first.roll_deg))
    assert after.tilt_deg is not None and after.tilt_deg < 0.5, after


def test_a_texture_free_sphere_is_not_measured() -> None:
    est = estimate_level(np.full((512, 1024, 3), 128, np.uint8))
    assert est.tilt_deg is None and est.confidence == 0.0


def test_a_scene_without_straight_verticals_is_unsure(pano: np.ndarray) -> None:
    assert estimate_level(pano).confidence < 0.5
