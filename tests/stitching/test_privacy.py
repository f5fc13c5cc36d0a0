"""Face blurring: real faces planted on the sphere are found and blurred, nothing else moves.

Faces are planted with geometry written here from the documented conventions (not the
module's), as flat photographs seen face-on from the camera, so the test also checks that
detections land back where the faces are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.data import FACE_MODEL
from config.errors import CaptureError, ConfigError
from stitching.privacy import (
    MARGIN,
    BlurResult,
    Detection,
    FaceDetector,
    FaceRegion,
    blur_faces,
    rotate_region,
)
from stitching.privacy.detector import METHOD
from stitching.privacy.search import BAND_LAT_DEG, DEFAULT_PLAN, POLE_HALF_DEG
from stitching.privacy.views import ROLLS_DEG
from stitching.sphere import pose_rotation

FACES_DIR = Path(__file__).parent.parent / "data" / "faces"
#: Polar views the default search renders (u and d, at each of its yaws).
POLAR_VIEWS = 2 * len(DEFAULT_PLAN.polar_yaws_deg)
WIDTH = 2048
CROP_DEG = 16.0  # the photograph's side; the face is about half of it

# (id, yaw, pitch, photo): across the seam, on cube edges and a corner, at pitch +-60.
PLACES = [
    ("seam", 180.0, 0.0, "astronaut"),
    ("seam-low", 174.0, -30.0, "cameraman"),
    ("edge-f-r", 45.0, 0.0, "boy_highfive"),
    ("edge-r-u", 90.0, 45.0, "goalie_poster"),
    ("corner-l-f-u", -45.0, 35.26, "astronaut"),
    ("pitch+60", 30.0, 60.0, "cameraman"),
    ("pitch-60", -120.0, -60.0, "boy_highfive"),
    ("pitch+60-back", 150.0, 60.0, "goalie_poster"),
    ("pitch-60-front", 10.0, -60.0, "astronaut"),
]
# (id, yaw, pitch, photo, roll): faces turned a quarter or half turn (a camera on its side or
# upside down), across the seam, on cube edges and a corner.
ROLLED = [
    ("seam+90", 180.0, 0.0, "astronaut", 90),
    ("seam-low-180", -176.0, -25.0, "cameraman", 180),
    ("edge-f-r-90", 45.0, 0.0, "boy_highfive", -90),
    ("edge-b-l+90", -135.0, 5.0, "goalie_poster", 90),
    ("edge-r-u-180", 90.0, 45.0, "cameraman", 180),
    ("corner-l-f-u-90", -45.0, 35.26, "astronaut", -90),
    ("edge-f-d+90", 0.0, -45.0, "goalie_poster", 90),
    ("pitch+60-180", 120.0, 60.0, "boy_highfive", 180),
]


def direction(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array(
        [math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)]
    )


def pixel_directions(
    height: int, width: int, top: int = 0, bottom: int | None = None
) -> np.ndarray:
    """Unit directions of the pixel centres of rows [top, bottom), float32 (rows, width, 3)."""
    yaw = ((np.arange(width, dtype=np.float32) + 0.5) / width - 0.5) * 2 * np.pi
    rows = np.arange(top, height if bottom is None else bottom, dtype=np.float32)
    pitch = (0.5 - (rows + 0.5) / height) * np.pi
    yaw, pitch = np.meshgrid(yaw, pitch)
    return np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], -1)


def tangent(dirs: np.ndarray, yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic coordinates (right, up) about a centre; NaN behind it. Not for the poles."""
    forward = direction(yaw_deg, pitch_deg)
    right = np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    depth = dirs @ forward
    depth = np.where(depth > 1e-6, depth, np.nan)
    return (dirs @ right) / depth, (dirs @ up) / depth


def plant(
    pano: np.ndarray, photo: np.ndarray, yaw: float, pitch: float, size_deg: float = CROP_DEG
) -> np.ndarray:
    """Paste a square ``photo``, ``size_deg`` wide, facing the camera at (yaw, pitch).

    Returns the mask of the face, bool (H, W): the middle of the photograph.
    """
    height, width = pano.shape[:2]
    t = math.tan(math.radians(size_deg / 2))
    # Only the rows the photograph can reach (its corners are atan(t * sqrt 2) away).
    reach = math.degrees(math.atan(t * math.sqrt(2))) + 1.0
    r0 = max(0, int((0.5 - (pitch + reach) / 180) * height))
    r1 = min(height, int((0.5 - (pitch - reach) / 180) * height) + 1)
    u, v = tangent(pixel_directions(height, width, r0, r1), yaw, pitch)
    side = photo.shape[0]
    map_x = np.nan_to_num((u / t + 1) / 2 * side - 0.5, nan=-1e4).astype(np.float32)
    map_y = np.nan_to_num((1 - v / t) / 2 * side - 0.5, nan=-1e4).astype(np.float32)
    img = cv2.remap(photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (np.abs(u) < t) & (np.abs(v) < t)
    pano[r0:r1][inside] = img[inside]
    mask = np.zeros((height, width), dtype=bool)
    mask[r0:r1] = (np.abs(u) < 0.4 * t) & (np.abs(v) < 0.5 * t)
    return mask


def detail(img: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image inside ``mask``: edges, texture, features."""
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[mask].mean())


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(a @ b, -1.0, 1.0))))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector.from_onnx(FACE_MODEL.read_bytes())


@pytest.fixture(scope="module")
def background(pano: np.ndarray) -> np.ndarray:
    return cv2.resize(pano, (WIDTH, WIDTH // 2), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def planted(background: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    img = background.copy()
    masks = {}
    for place, yaw, pitch, name in PLACES:
        photo = cv2.imread(str(FACES_DIR / f"{name}.jpg"), cv2.IMREAD_COLOR)
        assert photo is not None, f"cannot read {name}.jpg"
        masks[place] = plant(img, photo, yaw, pitch)
    return img, masks


@pytest.fixture(scope="module")
def rolled_planted(background: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    img = background.copy()
    masks = {}
    for place, yaw, pitch, name, roll in ROLLED:
        photo = cv2.imread(str(FACES_DIR / f"{name}.jpg"), cv2.IMREAD_COLOR)
        assert photo is not None, f"cannot read {name}.jpg"
        # np.rot90 turns counter-clockwise: the face is rolled by +roll in the picture.
        masks[place] = plant(img, np.ascontiguousarray(np.rot90(photo, roll // 90)), yaw, pitch)
    return img, masks


@pytest.fixture(scope="module")
def rolled_blurred(
    rolled_planted: tuple[np.ndarray, dict[str, np.ndarray]], detector: FaceDetector
) -> BlurResult:
    return blur_faces(rolled_planted[0], detector)


@pytest.fixture(scope="module")
def blurred(
    planted: tuple[np.ndarray, dict[str, np.ndarray]], detector: FaceDetector
) -> BlurResult:
    return blur_faces(planted[0], detector)


class Blind(FaceDetector):
    """Finds nothing: manual regions alone, without running the network."""

    def __init__(self) -> None:
        self.version = "none"
        self.threshold = 0.5

    def detect_batch(
        self, views: Sequence[np.ndarray], *, threshold: float | None = None
    ) -> list[list[Detection]]:
        return [[] for _ in views]


@pytest.mark.parametrize("place", [p[0] for p in PLACES])
def test_every_planted_face_is_blurred(
    place: str, planted: tuple[np.ndarray, dict[str, np.ndarray]], blurred: BlurResult
) -> None:
    img, masks = planted
    before, after = detail(img, masks[place]), detail(blurred.image, masks[place])
    assert before > 8.0, f"{place}: the planted face has too little detail to test ({before})"
    assert after < 0.25 * before, f"{place}: detail {before:.1f} -> {after:.1f}"


def test_one_region_per_face_where_it_was_planted(blurred: BlurResult) -> None:
    assert blurred.detector == "centerface"
    assert blurred.detector_version.startswith(f"{METHOD}+sha256:")
    # The band and the polar views, each in every roll.
    assert blurred.complete and blurred.rolls_deg == ROLLS_DEG
    assert blurred.views == len(ROLLS_DEG) * (1 + POLAR_VIEWS)
    assert all(r.source == "detector" for r in blurred.regions)
    unmatched = list(blurred.regions)
    for place, yaw, pitch, _ in PLACES:
        near = [
            r
            for r in unmatched
            if angle_deg(direction(r.yaw_deg, r.pitch_deg), direction(yaw, pitch)) < CROP_DEG / 2
        ]
        assert len(near) == 1, f"{place}: {len(near)} regions near it: {near}"
        # A face is about half the photograph (the boy's also holds a small face on a TV
        # behind him, merged into his region): more than a quarter, less than all of it.
        assert 0.25 * CROP_DEG < near[0].height_deg < CROP_DEG, near[0]
        unmatched.remove(near[0])
    assert unmatched == [], f"regions where no face was planted: {unmatched}"


def test_blurred_faces_are_not_found_again(blurred: BlurResult, detector: FaceDetector) -> None:
    assert blur_faces(blurred.image, detector).regions == []


def test_face_free_panorama_is_unchanged(background: np.ndarray, detector: FaceDetector) -> None:
    result = blur_faces(background, detector)
    assert result.regions == []
    diff = np.abs(result.image.astype(np.int16) - background)
    assert diff.mean() < 0.1 and (diff > 2).mean() < 1e-4


def test_outside_the_regions_nothing_changes(
    planted: tuple[np.ndarray, dict[str, np.ndarray]], blurred: BlurResult
) -> None:
    img, _ = planted
    dirs = pixel_directions(*img.shape[:2])
    near = np.zeros(img.shape[:2], dtype=bool)
    for r in blurred.regions:
        reach = math.hypot(r.width_deg, r.height_deg) / 2 * (1 + 2 * MARGIN) + 1.0
        off = np.arccos(np.clip(dirs @ direction(r.yaw_deg, r.pitch_deg), -1, 1))
        near |= np.degrees(off) < reach
    assert np.array_equal(blurred.image[~near], img[~near])
    assert not np.array_equal(blurred.image[near], img[near])


@pytest.mark.parametrize(
    ("yaw", "pitch"), [(180.0, 0.0), (-179.0, 20.0), (0.0, 88.0), (100.0, -90.0), (45.0, 60.0)]
)
def test_manual_regions_are_blurred_across_the_seam_and_poles(yaw: float, pitch: float) -> None:
    rng = np.random.default_rng(8)
    noise = rng.integers(0, 256, (256, 512, 3), dtype=np.uint8)
    region = FaceRegion(yaw_deg=yaw, pitch_deg=pitch, width_deg=12.0, height_deg=16.0)
    result = blur_faces(noise, Blind(), extra_regions=[region], view_size=64)
    assert result.regions == [region]
    dirs = pixel_directions(256, 512)
    off = np.degrees(np.arccos(np.clip(dirs @ direction(yaw, pitch), -1, 1)))
    inside = off < 5.0  # well inside the 12 x 16 deg box, whatever its orientation
    outside = off > math.hypot(6.0, 8.0) * (1 + 2 * MARGIN) + 1.0
    assert inside.sum() > 20
    assert detail(result.image, inside) < 0.2 * detail(noise, inside)
    assert np.array_equal(result.image[outside], noise[outside])
    assert not np.shares_memory(result.image, noise)


def test_out_blurs_in_place() -> None:
    noise = np.random.default_rng(9).integers(0, 256, (128, 256, 3), dtype=np.uint8)
    before = noise.copy()
    region = FaceRegion(yaw_deg=-30.0, pitch_deg=10.0, width_deg=20.0, height_deg=20.0)
    result = blur_faces(noise, Blind(), extra_regions=[region], view_size=64, out=noise)
    assert result.image is noise and not np.array_equal(noise, before)
    copy = blur_faces(before, Blind(), extra_regions=[region], view_size=64)
    assert np.array_equal(copy.image, noise)
    with pytest.raises(ValueError, match="out must be"):
        blur_faces(before, Blind(), view_size=64, out=noise[:64])


def test_nothing_to_blur_returns_the_input() -> None:
    img = np.full((64, 128, 3), 90, dtype=np.uint8)
    result = blur_faces(img, Blind(), view_size=64)
    assert result.image is img and result.regions == []


def test_detect_finds_a_face_in_a_photograph(detector: FaceDetector) -> None:
    photo = cv2.imread(str(FACES_DIR / "astronaut.jpg"), cv2.IMREAD_COLOR)
    assert photo is not None
    found = detector.detect(photo)
    assert len(found) == 1
    box = found[0]
    side = photo.shape[0]
    assert abs((box.x0 + box.x1) / 2 - side / 2) < 0.15 * side
    assert 0.3 * side < box.y1 - box.y0 < 0.8 * side and box.score > detector.threshold


def test_rotate_region_turns_with_yaw_and_grows_with_roll() -> None:
    region = FaceRegion(yaw_deg=10.0, pitch_deg=20.0, width_deg=8.0, height_deg=10.0)
    turn = math.radians(30.0)
    about_y = np.array(
        [[math.cos(turn), 0, math.sin(turn)], [0, 1, 0], [-math.sin(turn), 0, math.cos(turn)]]
    )
    turned = rotate_region(region, about_y)
    assert turned.yaw_deg == pytest.approx(40.0) and turned.pitch_deg == pytest.approx(20.0)
    assert turned.width_deg == pytest.approx(8.0) and turned.height_deg == pytest.approx(10.0)
    rolled = rotate_region(region, pose_rotation(0.0, 25.0))
    assert rolled.width_deg > region.width_deg and rolled.height_deg > region.height_deg


def test_a_failing_network_fails_the_capture() -> None:
    def broken(blob: np.ndarray) -> list[np.ndarray]:
        raise RuntimeError("out of memory in convolution")

    detector = FaceDetector(broken, version="broken")
    with pytest.raises(CaptureError, match=r"view band: .*out of memory"):
        blur_faces(np.zeros((64, 128, 3), dtype=np.uint8), detector, view_size=64)


def test_a_view_the_network_cannot_take_leaves_the_search_incomplete(
    detector: FaceDetector, planted: tuple[np.ndarray, dict[str, np.ndarray]]
) -> None:
    """One view failing alone does not stop the others, but the search is not complete."""
    real = detector.detect_batch

    class OneBadView(FaceDetector):
        def __init__(self) -> None:
            self.version, self.threshold = detector.version, detector.threshold

        def detect_batch(
            self, views: Sequence[np.ndarray], *, threshold: float | None = None
        ) -> list[list[Detection]]:
            # The polar views (the first pass's only square images; it asks for a lower
            # threshold than the confirmation does), in every roll.
            if threshold is not None and any(v.shape[0] == v.shape[1] for v in views):
                raise CaptureError("face detector returned non-finite scores")
            return real(views, threshold=threshold)

    result = blur_faces(planted[0], OneBadView())
    assert not result.complete
    names = [f.split(":")[0] for f in result.failed]
    assert len(names) == POLAR_VIEWS * len(ROLLS_DEG) == len(set(names)), names
    assert all(n.startswith(("view u", "view d")) for n in names), names
    assert all("non-finite scores" in f for f in result.failed)
    assert len(result.regions) >= 5, "the views that were searched still found their faces"


def test_the_first_pass_covers_the_sphere_with_room_for_a_face() -> None:
    """Every direction is at least 5 deg inside the band or a polar view: whole faces."""
    rng = np.random.default_rng(3)
    dirs = rng.normal(size=(200_000, 3))
    dirs = np.vstack([dirs / np.linalg.norm(dirs, axis=1, keepdims=True), np.eye(3), -np.eye(3)])
    x, y, z = dirs.T
    pitch = np.degrees(np.arcsin(np.clip(y, -1, 1)))
    band = BAND_LAT_DEG - np.abs(pitch)
    # A polar view is a pinhole square about the pole: its edges are where x/|y| or z/|y|
    # reaches tan(POLE_HALF_DEG); the margin is the angle left in those two planes.
    lean = np.maximum(np.arctan2(np.abs(x), np.abs(y)), np.arctan2(np.abs(z), np.abs(y)))
    pole = POLE_HALF_DEG - np.degrees(lean)
    assert float(np.min(np.maximum(band, pole))) >= 5.0 - 1e-9
    # The bound is tight: where the band meets the middle of a polar view's edge.
    assert float(np.min(np.maximum(band - 1.0, pole - 1.0))) < 5.0


@pytest.mark.parametrize("place", [p[0] for p in ROLLED])
def test_rolled_faces_are_blurred(
    place: str,
    rolled_planted: tuple[np.ndarray, dict[str, np.ndarray]],
    rolled_blurred: BlurResult,
) -> None:
    img, masks = rolled_planted
    before, after = detail(img, masks[place]), detail(rolled_blurred.image, masks[place])
    assert before > 8.0, f"{place}: the planted face has too little detail to test ({before})"
    assert after < 0.25 * before, f"{place}: detail {before:.1f} -> {after:.1f}"


def test_rolled_faces_are_found_where_they_were_planted(rolled_blurred: BlurResult) -> None:
    assert rolled_blurred.complete
    unmatched = list(rolled_blurred.regions)
    for place, yaw, pitch, _, _ in ROLLED:
        near = [
            r
            for r in unmatched
            if angle_deg(direction(r.yaw_deg, r.pitch_deg), direction(yaw, pitch)) < CROP_DEG / 2
        ]
        assert len(near) == 1, f"{place}: {len(near)} regions near it: {near}"
        # A box seen turned is replaced by the upright box around it (up to 1.41 times
        # larger): more than a quarter of the photograph, less than 1.5 times it.
        assert 0.25 * CROP_DEG < max(near[0].height_deg, near[0].width_deg) < 1.5 * CROP_DEG, (
            near[0]
        )
        unmatched.remove(near[0])
    assert unmatched == [], f"regions where no face was planted: {unmatched}"


def test_upright_search_alone_misses_rolled_faces(
    rolled_planted: tuple[np.ndarray, dict[str, np.ndarray]], detector: FaceDetector
) -> None:
    """Why the rolls are searched: without them most of these faces stay visible."""
    upright = blur_faces(rolled_planted[0], detector, plan=replace(DEFAULT_PLAN, rolls_deg=(0,)))
    assert upright.views == 1 + POLAR_VIEWS and upright.rolls_deg == (0,)
    found = sum(
        any(
            angle_deg(direction(r.yaw_deg, r.pitch_deg), direction(yaw, pitch)) < CROP_DEG / 2
            for r in upright.regions
        )
        for _, yaw, pitch, _, _ in ROLLED
    )
    assert found <= len(ROLLED) // 2, f"{found} of {len(ROLLED)} rolled faces found upright"


def test_a_bad_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an ONNX model"):
        FaceDetector.from_onnx(b"this is not a model")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pitch_deg": 91.0},
        {"width_deg": 0.0},
        {"height_deg": 180.0},
        {"yaw_deg": math.nan},
        {"source": "guess"},
    ],
)
def test_face_region_rejects_nonsense(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"yaw_deg": 0, "pitch_deg": 0, "width_deg": 5, "height_deg": 5}
    with pytest.raises(ValueError, match="face region"):
        FaceRegion(**(fields | kwargs))  # type: ignore[arg-type]
