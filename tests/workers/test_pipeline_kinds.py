"""Raw capture kinds through the whole pipeline: real dual-fisheye and multi-shot frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings
from tests.workers.helpers import Harness, folder_candidate, write_folder
from workers.ledger import State
from workers.manifest import SceneManifest

STITCHING = Path(__file__).parents[1] / "data" / "stitching"


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


def _master(harness: Harness, manifest: SceneManifest) -> np.ndarray:
    data = harness.store.get(manifest.equirect.key)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_a_real_theta_s_frame_is_recognised_and_stitched(harness: Harness, tmp_path: Path) -> None:
    raw = (STITCHING / "thetaS_raw_jacoblange.jpg").read_bytes()  # 1920x1080, two circles
    # The file has no EXIF; the capture app's sidecar names the camera.
    sidecar = {"scene": "kitchen", "device": "RICOH THETA S"}
    folder = write_folder(tmp_path / "kitchen", {"R0010042.JPG": raw}, sidecar)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.kind == "dual_fisheye" and manifest.stitch is not None
    assert manifest.stitch["frames_used"] == ["R0010042.JPG"]
    assert "theta" in str(manifest.stitch.get("profile", "")).lower(), manifest.stitch
    master = _master(harness, manifest)
    assert master.shape[1] == 2 * master.shape[0]
    # No hole: a missing seam band or pole cap would leave a whole band of the sphere empty
    # (clipped blacks in the scene, a toaster here, fill only part of one).
    empty = master.max(axis=2) == 0
    assert empty.reshape(-1, 32, empty.shape[1]).mean(axis=(1, 2)).max() < 0.5, "a row band"
    assert empty.reshape(empty.shape[0], -1, 32).mean(axis=(0, 2)).max() < 0.5, "a column band"
    history = [e.stage for e in harness.app.ledger.history(capture_id)]
    assert "stitch" in history and "validate" not in history


def test_the_real_lunchroom_rotation_is_stitched_with_all_frames(
    harness: Harness, tmp_path: Path
) -> None:
    frames = {p.name: p.read_bytes() for p in sorted((STITCHING / "lunchroom12").glob("*.jpg"))}
    sidecar = {"scene": "lunchroom", "kind": "multishot", "rig": {"yaw_step_deg": 30}}
    folder = write_folder(tmp_path / "lunchroom", frames, sidecar)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.kind == "multishot" and not manifest.incomplete
    assert manifest.stitch is not None and manifest.stitch["frames_used"] == sorted(frames)
    master = _master(harness, manifest)
    horizon = master[master.shape[0] // 2 - 10 : master.shape[0] // 2 + 10]
    assert (horizon.max(axis=2) > 0).all(), "closed all the way round at the horizon"


def test_a_set_of_one_frame_fails_with_a_reason(harness: Harness, tmp_path: Path) -> None:
    one = (STITCHING / "lunchroom12" / "img01.jpg").read_bytes()
    folder = write_folder(tmp_path / "single", {"img01.jpg": one}, {"kind": "multishot"})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state in (State.FAILED, State.QUARANTINED)
    assert "img01.jpg" in (capture.reason or "") or "one frame" in (capture.reason or "")
