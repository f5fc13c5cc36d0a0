"""Levelling from the image through the whole pipeline: an equirect without any pose.

The Theta S kitchen, stitched and levelled, then rolled 90° (a camera held on its side
whose equirect says nothing of it: GPano without a pose, no sidecar) publishes with
``levelling.source == "image"``; the published master and cube faces are upright again (their
lines re-measured from the published pixels), and the level check reads the residual.
The same scene level is published untouched.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings
from stitching.equirect import rotate_equirect
from stitching.level import estimate_level
from stitching.sphere import pose_rotation
from stitching.upright import estimate_up
from tests.support.data import stitch_builtin
from tests.support.pipeline import Harness, file_candidate, gpano_xmp, with_xmp
from workers.contract.scene import SceneManifest

STITCHING = Path(__file__).parents[1] / "data" / "stitching"


@pytest.fixture(scope="module")
def kitchen() -> np.ndarray:
    frame = cv2.imread(str(STITCHING / "thetaS_raw_jacoblange.jpg"))
    stitched = stitch_builtin(frame, make="RICOH", model="RICOH THETA S").equirect
    est = estimate_up(stitched)
    return rotate_equirect(stitched, pose_rotation(est.pitch_deg, est.roll_deg))


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


def _publish(harness: Harness, tmp_path: Path, img: np.ndarray) -> SceneManifest:
    # As a camera writes it: GPano says equirectangular, and nothing of a pose.
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    xmp = gpano_xmp(ProjectionType="equirectangular", UsePanoramaViewer="True")
    (tmp_path / "kitchen.jpg").write_bytes(with_xmp(jpeg, xmp))
    capture_id = harness.ingest(file_candidate(tmp_path / "kitchen.jpg"))
    harness.drain()
    return harness.published(capture_id)[1]


def _decoded(harness: Harness, key: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(harness.store.get(key), np.uint8), cv2.IMREAD_COLOR)


def test_a_camera_on_its_side_is_levelled_from_the_image(
    harness: Harness, tmp_path: Path, kitchen: np.ndarray
) -> None:
    rolled = rotate_equirect(kitchen, pose_rotation(0.0, 90.0).T)  # posed at roll 90
    manifest = _publish(harness, tmp_path, rolled)
    levelling = manifest.levelling
    assert levelling.source == "image", levelling
    assert levelling.confidence is not None and levelling.confidence >= 0.6
    assert levelling.pitch_deg == pytest.approx(0.0, abs=2.0)
    assert levelling.roll_deg == pytest.approx(90.0, abs=2.0)
    level = next(c for c in manifest.checks if c.name == "level")
    assert level.verdict == "ok" and level.value is not None and level.value <= 2.0, level
    assert "levelled from the image" in level.message
    # The published pixels: the master equirect and the front cube face read upright.
    master = _decoded(harness, manifest.equirect.key)
    again = estimate_level(master)
    assert again.tilt_deg is not None and again.tilt_deg <= 2.0 and again.confidence >= 0.5
    top = max(int(k.split("/")[-4]) for k in harness.store.list(_tiles(manifest)))
    front = _face(harness, manifest, top, "f")
    assert _vertical_share(front) > 0.5  # the fridge and door frames stand up on it


def test_a_level_equirect_is_published_untouched(
    harness: Harness, tmp_path: Path, kitchen: np.ndarray
) -> None:
    manifest = _publish(harness, tmp_path, kitchen)
    assert manifest.levelling.source == "none", manifest.levelling
    assert (manifest.levelling.pitch_deg, manifest.levelling.roll_deg) == (0.0, 0.0)
    level = next(c for c in manifest.checks if c.name == "level")
    assert level.verdict == "ok" and level.value is not None and level.value <= 0.5, level


def _tiles(manifest: SceneManifest) -> str:
    return manifest.equirect.key.rsplit("/", 1)[0] + "/tiles/"


def _face(harness: Harness, manifest: SceneManifest, level: int, face: str) -> np.ndarray:
    prefix = f"{_tiles(manifest)}{level}/{face}/"
    keys = sorted(harness.store.list(prefix))
    rows: dict[int, dict[int, np.ndarray]] = {}
    for key in keys:
        y, x = int(key.split("/")[-2]), int(key.rsplit("/", 1)[1].split(".")[0])
        rows.setdefault(y, {})[x] = _decoded(harness, key)
    return np.vstack([np.hstack([rows[y][x] for x in sorted(rows[y])]) for y in sorted(rows)])


def _vertical_share(face: np.ndarray) -> float:
    """Length share of the long straight segments on a face that are within 3° of vertical."""
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    found = cv2.createLineSegmentDetector().detect(grey)[0].reshape(-1, 4)
    dx, dy = found[:, 2] - found[:, 0], found[:, 3] - found[:, 1]
    length = np.hypot(dx, dy)
    long = length > 0.1 * face.shape[0]
    lean = np.degrees(np.arctan2(np.abs(dx), np.abs(dy)))
    upright = long & (lean < 3.0)
    sideways = long & (lean > 87.0)
    return float(length[upright].sum() / max(length[upright | sideways].sum(), 1e-6))
