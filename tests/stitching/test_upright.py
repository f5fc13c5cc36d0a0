"""Up found in the image over the whole sphere (:mod:`stitching.upright`), on real panoramas.

Two real scenes with straight lines, each stitched from its dual-fisheye frame with its
profile and levelled by its own estimate: the Theta S kitchen (indoors: cupboards, a
fridge, door frames, a bright ceiling) and the Gear 360 street (a bank's front, posts,
sky). Posed by known pitches and rolls, up to a camera on its side or upside down, the
estimate gives the pose back within 2°, confident and with the sign decided; so does a
dual-fisheye camera rolled 0°, 90° or 180° on its tripod (the harness's frame, stitched with
its true lens). A big bright window at the side does not lay a level room on its side.
Pannellum's summit (rock and trees, no straight verticals), noise and a sky gradient are
not trusted.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stitching.dual_fisheye import stitch_dual_fisheye
from stitching.equirect import rotate_equirect
from stitching.level import estimate_level
from stitching.sphere import pose_rotation
from stitching.upright import decide_up, estimate_up, find_structure
from tests.stitching.harness import render_unknown_dual_fisheye
from tests.support.data import stitch_builtin
from workers.pipeline.orientation import APPLY_CONFIDENCE, LEVEL_ENOUGH_DEG

STITCHING = Path(__file__).parents[1] / "data" / "stitching"
FRAMES = {
    "kitchen": ("thetaS_raw_jacoblange.jpg", "RICOH", "RICOH THETA S"),
    "street": ("gear360_extract_cynricfu.jpg", "SAMSUNG", "SM-C200"),
}
POSES = [(0.0, 5.0), (0.0, 30.0), (0.0, 90.0), (0.0, -90.0), (0.0, 180.0), (20.0, 10.0)]


def _levelled(name: str) -> np.ndarray:
    file, make, model = FRAMES[name]
    frame = cv2.imread(str(STITCHING / file))
    assert frame is not None
    stitched = stitch_builtin(frame, make=make, model=model).equirect
    est = estimate_up(stitched)
    assert est.confidence >= APPLY_CONFIDENCE, est
    return rotate_equirect(stitched, pose_rotation(est.pitch_deg, est.roll_deg))


@pytest.fixture(scope="module")
def scenes() -> dict[str, np.ndarray]:
    return {name: _levelled(name) for name in FRAMES}


def _posed(level: np.ndarray, pitch: float, roll: float) -> np.ndarray:
    # pose_rotation(pitch, roll) levels a frame posed so; its inverse poses the level one.
    return rotate_equirect(level, pose_rotation(pitch, roll).T)


def _angle(a: tuple[float, float, float] | np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_a_level_scene_reads_level_and_is_left_alone(
    scenes: dict[str, np.ndarray], name: str
) -> None:
    est = estimate_up(scenes[name])
    assert est.confidence >= APPLY_CONFIDENCE and est.sign_decided, est
    assert est.tilt_deg < LEVEL_ENOUGH_DEG, est  # orient applies no rotation


@pytest.mark.parametrize("name", sorted(FRAMES))
@pytest.mark.parametrize(("pitch", "roll"), POSES)
def test_a_known_pose_is_found_within_two_degrees(
    scenes: dict[str, np.ndarray], name: str, pitch: float, roll: float
) -> None:
    est = estimate_up(_posed(scenes[name], pitch, roll))
    truth = pose_rotation(pitch, roll) @ np.array([0.0, 1.0, 0.0])
    # Upside down included: on both scenes the bright cap (ceiling, sky) decides the sign.
    assert _angle(est.up, truth) <= 2.0, est
    assert est.confidence >= APPLY_CONFIDENCE and est.sign_decided, est
    # Its pitch/roll level the posed panorama: the levelled up is the panorama's up.
    level_up = pose_rotation(est.pitch_deg, est.roll_deg) @ np.array([0.0, 1.0, 0.0])
    assert _angle(level_up, truth) <= 2.0, est


def test_the_level_check_reads_a_camera_on_its_side_as_ninety_degrees_off(
    scenes: dict[str, np.ndarray],
) -> None:
    posed = _posed(scenes["kitchen"], 0.0, 90.0)
    structure = find_structure(posed)
    before = estimate_level(posed, structure=structure)
    assert before.tilt_deg is not None and abs(before.tilt_deg - 90.0) <= 2.0, before
    assert before.confidence >= 0.5, before
    # Through the levelling the image asks for, the residual is nil.
    est = decide_up(structure)
    after = estimate_level(posed, pose_rotation(est.pitch_deg, est.roll_deg), structure=structure)
    assert after.tilt_deg is not None and after.tilt_deg <= 0.5, after


def test_a_pose_that_said_so_reads_level_through_its_rotation(
    scenes: dict[str, np.ndarray],
) -> None:
    # A camera on its side whose pose was known: levelled by that pose it reads level.
    posed = _posed(scenes["street"], 0.0, -90.0)
    after = estimate_level(posed, pose_rotation(0.0, -90.0))
    assert after.tilt_deg is not None and after.tilt_deg <= 1.0 and after.confidence >= 0.5


def test_a_scene_without_straight_verticals_is_not_trusted(pano: np.ndarray) -> None:
    for pitch, roll in [(0.0, 0.0), (0.0, 90.0)]:
        est = estimate_up(_posed(pano, pitch, roll))
        assert est.confidence < APPLY_CONFIDENCE, est


@pytest.mark.parametrize("kind", ["noise", "sky"])
def test_a_panorama_without_structure_has_no_confidence(kind: str) -> None:
    rng = np.random.default_rng(3)
    if kind == "noise":
        img = rng.integers(0, 256, (512, 1024, 3), dtype=np.uint8)
    else:  # bright above, darker below, smooth: a sky over a haze
        rows = np.linspace(230.0, 60.0, 512)[:, None, None]
        img = np.broadcast_to(rows, (512, 1024, 3)).astype(np.uint8)
    est = estimate_up(img)
    assert est.confidence < APPLY_CONFIDENCE, est
    assert estimate_level(img).confidence < 0.5


@pytest.mark.parametrize("name", sorted(FRAMES))
@pytest.mark.parametrize("share", [0.15, 0.35])
def test_a_bright_window_does_not_turn_a_level_scene_on_its_side(
    scenes: dict[str, np.ndarray], name: str, share: float
) -> None:
    img = scenes[name].copy()
    h, w = img.shape[:2]
    # A white window centred at yaw 90: the brightest cap is now at the side.
    half_w, half_h, centre = int(w * share / 2), int(h * share), 3 * w // 4
    img[h // 2 - half_h : h // 2 + half_h, centre - half_w : centre + half_w] = 255
    est = estimate_up(img)
    assert est.tilt_deg <= LEVEL_ENOUGH_DEG, est  # nothing to apply, whatever its confidence


@pytest.mark.parametrize("roll", [0.0, 90.0, 180.0])
def test_a_rolled_dual_fisheye_camera_comes_out_level(
    scenes: dict[str, np.ndarray], roll: float
) -> None:
    # The camera rolled on its tripod, stitched with its true lens model (the lens fit's
    # own accuracy is measured elsewhere): levelled by the estimate, within 2°.
    case = render_unknown_dual_fisheye(
        scenes["kitchen"], 1920, np.random.default_rng(int(roll) + 1), roll_deg=roll
    )
    stitched = stitch_dual_fisheye(
        case.frame, make=None, model=None, profiles={}, profile=case.profile
    ).equirect
    est = estimate_up(stitched)
    assert est.confidence >= APPLY_CONFIDENCE and est.sign_decided, est
    level_up = pose_rotation(est.pitch_deg, est.roll_deg) @ np.array([0.0, 1.0, 0.0])
    assert _angle(level_up, case.level @ np.array([0.0, 1.0, 0.0])) <= 2.0, est
