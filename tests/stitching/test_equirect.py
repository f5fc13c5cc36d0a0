"""Levelling (pose_rotation + one remap) and partial-panorama placement."""

import math

import cv2
import numpy as np
import pytest

from config.errors import QuarantineError
from stitching.equirect import CroppedArea, place_cropped, rotate_equirect, validate_area
from stitching.sphere import pose_rotation
from tiling.cube import FACES, CubeProjector


def direction(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array(
        [math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)]
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def camera_axes(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Columns: the tilted camera's right, up and forward in the world, from the GPano words.

    Pitch: the image centre looks ``pitch`` degrees above the horizon. Roll: the camera turns
    about its forward axis so its right side goes down (the horizon turns counterclockwise
    in the image).
    """
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    forward = np.array([0.0, math.sin(p), math.cos(p)])
    up = np.array([0.0, math.cos(p), -math.sin(p)])
    right = np.array([1.0, 0.0, 0.0])
    right, up = math.cos(r) * right - math.sin(r) * up, math.sin(r) * right + math.cos(r) * up
    return np.stack([right, up, forward], axis=1)


def render_tilted(level: np.ndarray, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """What a camera at that pitch/roll records of the level scene: float64 math, bilinear."""
    height, width = level.shape[:2]
    yaw = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    pitch = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    yaw, pitch = np.meshgrid(yaw, pitch)
    cam = np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], -1)
    world = cam @ camera_axes(pitch_deg, roll_deg).T
    u = (np.arctan2(world[..., 0], world[..., 2]) / (2 * np.pi) + 0.5) * width - 0.5
    v = (0.5 - np.arcsin(np.clip(world[..., 1], -1, 1)) / np.pi) * height - 0.5
    v = np.clip(v, 0, height - 1)
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fx, fy = (u - x0)[..., None], (v - y0)[..., None]
    y1 = np.minimum(y0 + 1, height - 1)
    s = level.astype(np.float64)
    top = s[y0, x0 % width] * (1 - fx) + s[y0, (x0 + 1) % width] * fx
    bottom = s[y1, x0 % width] * (1 - fx) + s[y1, (x0 + 1) % width] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def level(pano) -> np.ndarray:
    # Smoothed so that one extra bilinear pass (the tilted capture) costs little PSNR.
    small = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), 1.0)


def test_pose_pitch_is_the_image_centre_above_the_horizon():
    r = pose_rotation(10.0, 0.0)
    assert np.allclose(r @ direction(0, 10), [0, 0, 1])


def test_pose_roll_turns_the_horizon_counterclockwise_in_the_image():
    r = pose_rotation(0.0, 15.0)
    right_of_centre, left_of_centre = r @ direction(30, 0), r @ direction(-30, 0)
    assert right_of_centre[1] > 0.1 and left_of_centre[1] < -0.1  # source y: up in the image


def test_pose_yaw_turns_the_capture_right():
    assert np.allclose(pose_rotation(0.0, 0.0, 90.0) @ direction(90, 0), [0, 0, 1])
    r = pose_rotation(12.0, -7.0, 33.0)
    assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1)


@pytest.mark.parametrize(("pitch", "roll"), [(12.0, -7.0), (-20.0, 30.0)])
def test_levelling_a_tilted_capture_recovers_the_level_faces(level, pitch, roll):
    tilted = render_tilted(level, pitch, roll)
    projector = CubeProjector(maxsize=24)

    def faces(src, rotation):
        return [projector.project_face(src, f, 160, rotation=rotation) for f in FACES]

    truth = faces(level, None)
    levelled = faces(tilted, pose_rotation(pitch, roll))
    for face, want, got in zip(FACES, truth, levelled, strict=True):
        assert psnr(got, want) >= 40, face
    wrong_signs_or_order = (
        pose_rotation(-pitch, roll),
        pose_rotation(pitch, -roll),
        pose_rotation(roll, pitch),
    )
    for wrong in wrong_signs_or_order:
        worst = min(psnr(g, w) for g, w in zip(faces(tilted, wrong), truth, strict=True))
        assert worst < 30


def test_rotate_equirect_levels_the_master(level):
    tilted = render_tilted(level, 12.0, -7.0)
    master = rotate_equirect(tilted, pose_rotation(12.0, -7.0))
    assert master.shape == level.shape
    assert psnr(master, level) >= 38
    half = rotate_equirect(tilted, pose_rotation(12.0, -7.0), out_width=512)
    assert half.shape == (256, 512, 3)
    assert psnr(half, cv2.resize(level, (512, 256), interpolation=cv2.INTER_AREA)) >= 40


def test_rotate_equirect_half_turn_is_an_exact_roll_across_the_seam():
    rng = np.random.default_rng(11)
    src = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
    turned = rotate_equirect(src, pose_rotation(0.0, 0.0, 180.0))
    assert np.abs(turned.astype(int) - np.roll(src, 64, axis=1)).max() <= 1


def test_rotate_equirect_without_rotation():
    src = np.zeros((64, 128, 3), np.uint8)
    assert rotate_equirect(src, None) is src
    assert rotate_equirect(src, np.eye(3), out_width=64).shape == (32, 64, 3)
    with pytest.raises(ValueError):
        rotate_equirect(src, np.ones((3, 3)))


def test_place_cropped_puts_the_crop_where_gpano_says():
    rng = np.random.default_rng(5)
    img = rng.integers(1, 256, (50, 100, 3), dtype=np.uint8)
    area = CroppedArea(full_width=400, full_height=200, left=150, top=60, width=100, height=50)
    validate_area(area)
    canvas = place_cropped(img, area)
    assert canvas.shape == (200, 400, 3)
    assert np.array_equal(canvas[60:110, 150:250], img)
    assert int(canvas.astype(int).sum()) == int(img.astype(int).sum())


def test_place_cropped_scales_gpano_fields_after_a_downscale():
    img = np.full((100, 400, 3), 9, np.uint8)
    area = CroppedArea(
        full_width=8000, full_height=4000, left=1600, top=1300, width=4000, height=1000
    )
    canvas = place_cropped(img, area)
    assert canvas.shape == (400, 800, 3)
    assert np.all(canvas[130:230, 160:560] == 9) and canvas.sum() == img.sum()


def test_place_cropped_full_pano_downscaled_is_returned_as_is():
    # photoprism's Gear 360 file: 500x250 pixels, GPano still claims 7200x3600.
    img = np.zeros((250, 500, 3), np.uint8)
    area = CroppedArea(full_width=7200, full_height=3600, left=0, top=0, width=7200, height=3600)
    assert place_cropped(img, area) is img


def test_place_cropped_wraps_a_rounded_offset_across_the_seam():
    img = np.full((167, 333, 3), 7, np.uint8)
    area = CroppedArea(
        full_width=2000, full_height=1000, left=1001, top=250, width=999, height=500
    )
    canvas = place_cropped(img, area)
    assert canvas.shape == (333, 666, 3)
    assert canvas.sum() == img.sum() and canvas[100, 0, 0] == 7


def test_place_cropped_rejects_a_size_that_is_no_downscale():
    img = np.zeros((150, 400, 3), np.uint8)
    area = CroppedArea(
        full_width=8000, full_height=4000, left=0, top=1500, width=4000, height=1000
    )
    with pytest.raises(QuarantineError, match=r"400x150.*4000x1000"):
        place_cropped(img, area)


@pytest.mark.parametrize(
    "area",
    [
        CroppedArea(full_width=400, full_height=200, left=0, top=0, width=0, height=50),
        CroppedArea(full_width=0, full_height=0, left=0, top=0, width=10, height=5),
        CroppedArea(full_width=400, full_height=200, left=-5, top=0, width=100, height=50),
        CroppedArea(full_width=400, full_height=200, left=350, top=0, width=100, height=50),
        CroppedArea(full_width=400, full_height=200, left=0, top=180, width=100, height=50),
        CroppedArea(full_width=400, full_height=300, left=0, top=0, width=100, height=50),
    ],
)
def test_validate_area_rejects_nonsense(area):
    with pytest.raises(QuarantineError, match="GPano cropped area"):
        validate_area(area)
