"""Detector recall on the planted-face set, upright and rolled; confirmation; memory bound.

The set is the benchmark's (tests/stitching/planted.py) on the 4096x2048 sample panorama,
whose resolution the search's full-resolution views reach (896 px), with fixed seeds: the
figures are deterministic for one ONNX Runtime build, so the thresholds sit a face or two
below what was measured (tests/bench/privacy.py prints the 8K figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from stitching.equirect import rotate_equirect
from stitching.privacy import Detection, FaceDetector, blur_faces, rotate_region
from stitching.privacy.detector import MAX_CALL_PIXELS, STRIP_OVERLAP, _strips
from stitching.privacy.search import DEFAULT_PLAN, _first_pass_images, search_faces
from stitching.privacy.views import Band
from stitching.sphere import pose_rotation
from tests.stitching.planted import SETS, photos, scene, score
from tests.stitching.test_privacy import FACES_DIR, plant

SCENES = 3
SEED = 8


def _recall(
    background: np.ndarray, detector: FaceDetector, rolls: Sequence[float]
) -> tuple[dict[str, tuple[int, int]], int]:
    rng = np.random.default_rng(SEED)
    faces = photos()
    totals: dict[str, list[int]] = {}
    false = 0
    for _ in range(SCENES):
        img, placed = scene(background, faces, rng, rolls)
        counts, f = score(blur_faces(img, detector, out=img).regions, placed)
        false += f
        for key, (k, n) in counts.items():
            totals.setdefault(key, [0, 0])
            totals[key][0] += k
            totals[key][1] += n
    return {k: (v[0], v[1]) for k, v in totals.items()}, false


@pytest.fixture(scope="module")
def upright(pano: np.ndarray, detector: FaceDetector) -> tuple[dict[str, tuple[int, int]], int]:
    return _recall(pano, detector, SETS["upright"])


@pytest.fixture(scope="module")
def rolled(pano: np.ndarray, detector: FaceDetector) -> tuple[dict[str, tuple[int, int]], int]:
    return _recall(pano, detector, SETS["rolled 90/-90/180"])


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    from config.data import FACE_MODEL

    return FaceDetector.from_onnx(FACE_MODEL.read_bytes())


def test_upright_faces_near_the_horizon_are_all_found(
    upright: tuple[dict[str, tuple[int, int]], int],
) -> None:
    counts, false = upright  # measured: 20/20 within 30 deg, 35/36 overall
    found, planted = counts["|pitch| <= 30"]
    assert planted >= 12 and found == planted, counts
    found, planted = counts["all"]
    assert found >= 0.85 * planted, counts
    assert false == 0


def test_rolled_faces_are_found(rolled: tuple[dict[str, tuple[int, int]], int]) -> None:
    counts, false = rolled
    # Measured: 31/36 overall, 17/20 within 30 deg of the horizon (the search before the
    # 8-bit network found 72 % of the benchmark's rolled faces).
    found, planted = counts["all"]
    assert found >= 0.8 * planted, counts
    found, planted = counts["|pitch| <= 30"]
    assert found >= 0.75 * planted, counts
    assert false == 0


def test_int8_network_finds_what_the_float_one_does(detector: FaceDetector) -> None:
    from config.data import FACE_MODEL

    exact = FaceDetector.from_onnx(FACE_MODEL.read_bytes(), precision="float")
    assert detector.version != exact.version and exact.version.endswith(
        detector.version.split("+")[1]
    )
    for name in ("astronaut", "cameraman", "goalie_poster"):
        photo = cv2.imread(str(FACES_DIR / f"{name}.jpg"), cv2.IMREAD_COLOR)
        assert photo is not None
        for side in (96, 256):
            img = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
            a, b = detector.detect(img), exact.detect(img)
            assert len(a) == len(b) >= 1, (name, side, a, b)
            assert abs(a[0].score - b[0].score) < 0.1
            assert abs((a[0].y1 - a[0].y0) - (b[0].y1 - b[0].y0)) < 0.1 * side


class Hinted(FaceDetector):
    """The real network for the confirmation pass; the first pass gives one weak hit.

    The hit is a box on the upright band (the first image of the first pass) around
    (yaw, pitch); with ``first_pass`` the real first pass's boxes are kept too.
    """

    def __init__(self, real: FaceDetector, yaw: float, pitch: float, *, first_pass: bool) -> None:
        self.version, self.threshold = real.version, real.threshold
        self._real, self._at, self._first_pass = real, (yaw, pitch), first_pass
        self.confirm_calls = 0
        self.band: Band | None = None

    def detect_batch(
        self, views: Sequence[np.ndarray], *, threshold: float | None = None
    ) -> list[list[Detection]]:
        if threshold is None:
            self.confirm_calls += 1
            return self._real.detect_batch(views)
        found = (
            self._real.detect_batch(views, threshold=threshold)
            if self._first_pass
            else [[] for _ in views]
        )
        band = self.band
        assert band is not None
        x = band.pad + (self._at[0] + 180.0) * band.ppd
        y = (band.lat_deg - self._at[1]) * band.ppd
        found[0] = [*found[0], Detection(x - 9, y - 10, x + 9, y + 10, 0.3)]
        return found


def _hinted(
    real: FaceDetector, work: np.ndarray, yaw: float, pitch: float, *, first_pass: bool
) -> Hinted:
    hinted = Hinted(real, yaw, pitch, first_pass=first_pass)
    band = _first_pass_images(work, 896, DEFAULT_PLAN)[0][0]
    assert isinstance(band, Band)
    hinted.band = band
    return hinted


def test_the_confirmation_pass_rejects_a_weak_hit_on_no_face(
    pano: np.ndarray, detector: FaceDetector
) -> None:
    """A weak first-pass hit is looked at again, sharp; where there is no face, nothing."""
    hinted = _hinted(detector, pano, -100.0, 5.0, first_pass=True)
    result = search_faces(pano, hinted, 896, DEFAULT_PLAN)
    assert result.confirmed >= 1 and hinted.confirm_calls == 1
    assert result.regions == []


def test_the_confirmation_pass_keeps_a_weak_hit_on_a_face(
    pano: np.ndarray, detector: FaceDetector
) -> None:
    """The same kind of hit where a small face is: the sharp look finds it and keeps it."""
    img = pano.copy()
    astronaut = cv2.imread(str(FACES_DIR / "astronaut.jpg"), cv2.IMREAD_COLOR)
    assert astronaut is not None
    plant(img, astronaut, 60.0, 0.0, 6.0)
    hinted = _hinted(detector, img, 60.0, 0.0, first_pass=False)
    result = search_faces(img, hinted, 896, DEFAULT_PLAN)
    assert result.confirmed >= 1
    assert len(result.regions) == 1, result.regions
    region = result.regions[0]
    assert abs(region.yaw_deg - 60.0) < 1.5 and abs(region.pitch_deg) < 1.5, region
    assert region.score >= detector.threshold and 1.5 < region.height_deg < 6.0, region


def test_large_views_are_searched_in_bounded_overlapping_strips(
    pano: np.ndarray, detector: FaceDetector
) -> None:
    """No inference call sees more than MAX_CALL_PIXELS; a face across a cut is found once."""
    wide = cv2.resize(pano[700:1340], (2400, 640), interpolation=cv2.INTER_AREA)
    strips = _strips(*wide.shape[:2])
    assert len(strips) > 1 and all(h * w <= MAX_CALL_PIXELS for _, _, h, w in strips)
    face = cv2.imread(str(FACES_DIR / "cameraman.jpg"), cv2.IMREAD_COLOR)
    assert face is not None
    face = cv2.resize(face, (120, 120), interpolation=cv2.INTER_AREA)
    cut = strips[1][1]  # the second strip's left edge: inside the first strip
    seen: list[tuple[int, ...]] = []
    real = detector._run

    def run(blob: np.ndarray) -> Sequence[np.ndarray]:
        seen.append(blob.shape)
        return real(blob)

    counting = FaceDetector(run, version=detector.version, threshold=detector.threshold)
    for x in (cut - 60, cut + STRIP_OVERLAP // 2 - 60, cut + STRIP_OVERLAP - 60):
        img = wide.copy()
        img[260:380, x : x + 120] = face
        found = counting.detect(img)
        near = [d for d in found if abs((d.x0 + d.x1) / 2 - x - 60) < 30]
        assert len(near) == 1, (x, found)
    assert max(n * h * w for n, _, h, w in seen) <= MAX_CALL_PIXELS


def test_a_scene_levelled_at_publishing_is_searched_as_it_will_be_seen(
    pano: np.ndarray, detector: FaceDetector
) -> None:
    """A camera on its side: the search runs on the levelled copy, faces come back in the
    source's frame, and they are the faces upright in the published scene."""
    rng = np.random.default_rng(SEED)
    levelled, placed = scene(pano, photos(), rng, SETS["upright"])
    rotation = pose_rotation(0.0, 90.0)  # levelled -> source
    source = rotate_equirect(levelled, rotation.T)
    result = blur_faces(source, detector, rotation=rotation)
    published = [rotate_region(r, rotation.T) for r in result.regions]
    counts, false = score(published, placed)
    found, planted = counts["|pitch| <= 30"]
    assert planted >= 4 and found == planted, counts
    found, planted = counts["all"]
    assert found >= 0.85 * planted, counts
    assert false == 0
    # Blurred in the source's frame: seen levelled again, no face is left to find.
    again = blur_faces(rotate_equirect(result.image, rotation), detector)
    assert score(again.regions, placed)[0]["|pitch| <= 30"][0] == 0, again.regions
