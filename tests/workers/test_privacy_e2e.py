"""Faces are blurred before anything is published: every published object is checked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import CaptureError
from config.settings import Settings
from stitching.privacy import Detection, FaceDetector, blur_faces
from tests.conftest import jpeg_bytes
from tests.stitching.test_privacy import FACES_DIR, PLACES, POLAR_VIEWS, detail, plant
from tests.support.pipeline import Harness, file_candidate, folder_candidate, write_folder
from workers.state.ledger import State

WIDTH = 2048


@pytest.fixture(scope="module")
def planted(pano: np.ndarray) -> tuple[bytes, dict[str, np.ndarray]]:
    img = cv2.resize(pano, (WIDTH, WIDTH // 2), interpolation=cv2.INTER_AREA)
    masks = {}
    for place, yaw, pitch, name in PLACES:
        photo = cv2.imread(str(FACES_DIR / f"{name}.jpg"), cv2.IMREAD_COLOR)
        masks[place] = plant(img, photo, yaw, pitch)
    return jpeg_bytes(img, 95), masks


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings.model_copy(update={"blur": "required"}))


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_no_published_object_shows_a_planted_face(
    harness: Harness, tmp_path: Path, planted: tuple[bytes, dict[str, np.ndarray]]
) -> None:
    data, masks = planted
    (tmp_path / "classroom.jpg").write_bytes(data)
    capture_id = harness.ingest(file_candidate(tmp_path / "classroom.jpg"))
    harness.drain()
    keys, manifest = harness.published(capture_id)
    privacy = manifest.privacy
    assert privacy.blurred and privacy.policy == "required" and privacy.detector == "centerface"
    assert privacy.regions >= len(PLACES) and privacy.detector_version
    assert privacy.complete and privacy.rolls_deg == [0, 90, 180, 270]
    assert privacy.views == 4 * (1 + POLAR_VIEWS), "the band and the polar views, 4 rolls each"
    detector = harness.app.pipeline.detector
    assert detector is not None

    objects = list(harness.store.list(keys.prefix + "/"))
    images = [k for k in objects if k.endswith(".jpg")]
    assert len(images) == manifest.tiles.count + 3  # every tile, preview, thumb, equirect
    for key in images:
        img = _decode(harness.store.get(key))
        if key == keys.equirect:
            again = blur_faces(img, detector)  # faces anywhere on the sphere, seams included
            assert again.regions == [], f"{key}: faces found again"
        else:
            assert detector.detect(img) == [], f"{key}: a face is visible"
    master = _decode(harness.store.get(keys.equirect))
    original = _decode(data)
    for place, mask in masks.items():
        assert detail(master, mask) < 0.25 * detail(original, mask), place
    # The original, the only unblurred copy, stays private under raw/.
    assert harness.store.get(manifest.sources[0].key) == data
    assert "regions" not in json.dumps(manifest.metadata), "no positions of people published"


def test_a_failing_detector_fails_the_capture_unpublished(
    harness: Harness, tmp_path: Path, planted: tuple[bytes, dict[str, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def broken(self: FaceDetector, views: object, **kwargs: object) -> list[object]:
        raise CaptureError("the face detector failed")

    assert harness.app.pipeline.detector is not None  # loaded (and checked) before breaking it
    monkeypatch.setattr(FaceDetector, "detect_batch", broken)
    (tmp_path / "gym.jpg").write_bytes(planted[0])
    capture_id = harness.ingest(file_candidate(tmp_path / "gym.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED and "face detector" in (capture.reason or "")
    assert list(harness.store.list("scenes/")) == [], "nothing published, not even a tile"


def test_a_view_that_could_not_be_searched_fails_the_capture_unpublished(
    harness: Harness, tmp_path: Path, planted: tuple[bytes, dict[str, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The network takes every image but the band turned on its side: the search is incomplete."""
    real = FaceDetector.detect_batch

    def one_bad(
        self: FaceDetector, views: Sequence[np.ndarray], *, threshold: float | None = None
    ) -> list[list[Detection]]:
        # The band turned by 90 or 270 deg is the only image much higher than wide.
        if any(v.shape[0] > 2 * v.shape[1] for v in views):
            raise CaptureError("face detector returned non-finite scores")
        return real(self, views, threshold=threshold)

    monkeypatch.setattr(FaceDetector, "detect_batch", one_bad)
    (tmp_path / "library.jpg").write_bytes(planted[0])
    capture_id = harness.ingest(file_candidate(tmp_path / "library.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED, capture.reason
    assert "did not cover the whole sphere" in (capture.reason or "")
    assert list(harness.store.list("scenes/")) == [], "nothing published, not even a tile"


def test_manual_regions_from_the_sidecar_are_blurred(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    region = {"yaw_deg": 20.0, "pitch_deg": -10.0, "width_deg": 30.0, "height_deg": 20.0}
    sidecar = {"scene": "hall", "blur_regions": [region]}
    folder = write_folder(tmp_path / "hall", {"pano.jpg": small_pano_jpeg}, sidecar)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    keys, manifest = harness.published(capture_id)
    assert manifest.privacy.manual_regions == 1
    master = _decode(harness.store.get(keys.equirect))
    original = _decode(small_pano_jpeg)
    h, w = master.shape[:2]
    box = np.zeros((h, w), bool)  # the middle of the region, in equirect pixels
    x0, x1 = int((20 - 10) / 360 * w + w / 2), int((20 + 10) / 360 * w + w / 2)
    y0, y1 = int((0.5 - (-10 + 6) / 180) * h), int((0.5 - (-10 - 6) / 180) * h)
    box[y0:y1, x0:x1] = True
    assert detail(master, box) < 0.3 * detail(original, box)


def test_an_operator_adds_a_region_and_the_scene_is_republished(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    from workers.cli.captures import blur as _blur

    (tmp_path / "lab.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "lab.jpg"))
    harness.drain()
    before, first = harness.published(capture_id)
    assert first.privacy.manual_regions == 0
    settings, ledger = harness.app.settings, harness.app.ledger
    assert _blur(settings, settings.redis_url or "", ledger, capture_id[:10], ["bad"]) == 2
    code = _blur(settings, settings.redis_url or "", ledger, capture_id[:10], ["-40,5,20,20"])
    assert code == 0 and ledger.get(capture_id).state == State.QUEUED
    harness.app._process_capture(capture_id)  # the worker takes the re-queued job
    after, second = harness.published(capture_id)
    assert after.version != before.version and second.privacy.manual_regions == 1
    assert harness.store.exists(first.equirect.key), "the old version stays until gc"


def test_the_way_faces_are_searched_enters_the_scene_version() -> None:
    """A new search (method or model) publishes a new version, never over an old one."""
    from config.data import FACE_MODEL, LENSES_TOML
    from workers.pipeline.inputs import Inputs
    from workers.pipeline.version import scene_version
    from workers.state.ledger import Capture, RawFile

    raw = RawFile(name="p.jpg", sha256="ab" * 32, size=3, key="raw/" + "ab" * 32 + "/p.jpg")
    capture = Capture(id="c" * 24, site="campus", scene="hall", source="/in/p.jpg", files=[raw])
    inputs = Inputs.from_data(
        lenses_toml=LENSES_TOML.read_text(encoding="utf-8"),
        face_model=FACE_MODEL.read_bytes(),
        threshold=0.5,
    )
    assert inputs.detector is not None
    other = FaceDetector(lambda blob: [], version="another-search+sha256:0")
    changed = Inputs(
        lens_profiles=inputs.lens_profiles, lens_digest=inputs.lens_digest,
        detector=other, model_digest=inputs.model_digest,
    )  # fmt: skip

    def version(settings: Settings, with_inputs: Inputs) -> str:
        return scene_version(capture, None, settings=settings, inputs=with_inputs)

    assert version(Settings(), inputs) != version(Settings(), changed)
    off = Settings(blur="off")
    assert version(off, inputs) == version(off, changed)
