"""Raw capture kinds through the whole pipeline: real dual-fisheye and multi-shot frames."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings
from stitching.equirect import rotate_equirect
from stitching.sphere import pose_rotation
from tests.stitching.harness import render_views
from tests.stitching.metrics import psnr
from tests.support.data import stitch_builtin
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.scene import SceneManifest
from workers.state.ledger import State

STITCHING = Path(__file__).parents[1] / "data" / "stitching"
#: The Theta S kitchen frame's pose, as the level check measures it ("review fix --pitch 3.1").
THETA_POSE = {"pitch_deg": 3.1, "roll_deg": -0.6}


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


def _master(harness: Harness, manifest: SceneManifest) -> np.ndarray:
    data = harness.store.get(manifest.equirect.key)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_a_real_theta_s_frame_is_recognised_and_stitched(harness: Harness, tmp_path: Path) -> None:
    raw = (STITCHING / "thetaS_raw_jacoblange.jpg").read_bytes()  # 1920x1080, two circles
    # The file has no EXIF; the capture app's sidecar names the camera and its pose (the
    # frame is 3 deg off level: without the pose the level check would hold it for review).
    sidecar = {"scene": "kitchen", "device": "RICOH THETA S", "orientation": THETA_POSE}
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


def test_a_camera_writing_one_file_per_lens_is_stitched_as_one_frame(
    harness: Harness, tmp_path: Path
) -> None:
    frame = cv2.imread(str(STITCHING / "thetaS_raw_jacoblange.jpg"))
    half = frame.shape[1] // 2
    # The front lens (lens 0) is the right circle of a Theta frame; its file comes first.
    files = {
        name: cv2.imencode(".jpg", part, [cv2.IMWRITE_JPEG_QUALITY, 97])[1].tobytes()
        for name, part in (("lens0.jpg", frame[:, half:]), ("lens1.jpg", frame[:, :half]))
    }
    sidecar = {"scene": "pair", "device": "RICOH THETA S", "orientation": THETA_POSE}
    folder = write_folder(tmp_path / "pair", files, sidecar)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.kind == "dual_fisheye" and manifest.stitch is not None
    assert manifest.stitch["frames_used"] == ["lens0.jpg", "lens1.jpg"]
    assert "theta" in str(manifest.stitch.get("profile", "")).lower(), manifest.stitch
    master = _master(harness, manifest)
    # Facing the front lens, the same picture as the camera's single side-by-side frame
    # gives (at the seams, refinement on a re-encoded frame may settle a little apart).
    whole = stitch_builtin(frame, make=None, model="RICOH THETA S", out_width=master.shape[1])
    level = pose_rotation(THETA_POSE["pitch_deg"], THETA_POSE["roll_deg"])
    whole = replace(whole, equirect=rotate_equirect(whole.equirect, level))
    h, w = master.shape[:2]
    front = (slice(h // 3, 2 * h // 3), slice(3 * w // 8, 5 * w // 8))
    assert psnr(master[front], whole.equirect[front]) > 32.0


def test_a_pair_declared_dual_fisheye_must_be_one_size(harness: Harness, tmp_path: Path) -> None:
    one = (STITCHING / "lunchroom12" / "img01.jpg").read_bytes()
    small = cv2.imencode(".jpg", np.full((64, 96, 3), 128, np.uint8))[1].tobytes()
    folder = write_folder(
        tmp_path / "odd", {"a.jpg": one, "b.jpg": small}, {"kind": "dual_fisheye"}
    )
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED, capture
    assert "dual_fisheye" in (capture.reason or "") and "b.jpg 96x64" in (capture.reason or "")


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


def test_a_head_programmed_in_rows_places_the_frames_with_nothing_to_match(
    harness: Harness, tmp_path: Path
) -> None:
    pano = cv2.imread(str(STITCHING.parent / "pannellum_examplepano.jpg"))
    frames, _ = render_views(
        pano,
        rows=[(0.0, 8), (45.0, 6), (-45.0, 6)],
        hfov_deg=75.0,
        size=(480, 360),
        rng=np.random.default_rng(3),
    )
    files = {
        f"{i:02d}_{f.name}": cv2.imencode(".jpg", f.image)[1].tobytes()
        for i, f in enumerate(frames)
    }
    rows = [
        {"pitch_deg": 0, "count": 8},
        {"pitch_deg": 45, "count": 6},
        {"pitch_deg": -45, "count": 6},
    ]
    folder = write_folder(tmp_path / "rows", files, {"scene": "atrium", "rig": {"rows": rows}})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.kind == "multishot" and not manifest.incomplete
    assert manifest.stitch is not None and manifest.stitch["frames_used"] == sorted(files)
    # The featureless sky frames came from the programme, and the scene says so.
    sky = sorted(name for name in files if "r+45" in name)
    assert manifest.stitch["placed_from_rig"] == sky
    assert any("rig" in w and sky[0] in w for w in manifest.warnings), manifest.warnings


def test_a_set_of_one_frame_fails_with_a_reason(harness: Harness, tmp_path: Path) -> None:
    one = (STITCHING / "lunchroom12" / "img01.jpg").read_bytes()
    folder = write_folder(tmp_path / "single", {"img01.jpg": one}, {"kind": "multishot"})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state in (State.FAILED, State.QUARANTINED)
    assert "img01.jpg" in (capture.reason or "") or "one frame" in (capture.reason or "")


def test_bicubic_dual_fisheye_resampling_is_a_setting_of_the_output(
    settings: Settings, tmp_path: Path
) -> None:
    bilinear = Harness(settings)
    bicubic = Harness(settings.model_copy(update={"fisheye_interpolation": "bicubic"}))
    assert bilinear.app.pipeline.fisheye.interpolation == cv2.INTER_LINEAR
    assert bicubic.app.pipeline.fisheye.interpolation == cv2.INTER_CUBIC
    raw = (STITCHING / "thetaS_raw_jacoblange.jpg").read_bytes()
    folder = write_folder(tmp_path / "k", {"R0010042.JPG": raw}, {"device": "RICOH THETA S"})
    capture = bilinear.app.ledger.get(bilinear.ingest(folder_candidate(folder)))
    # Another output is another version: switching re-renders instead of finding the old one.
    assert bilinear.app.pipeline.version(capture) != bicubic.app.pipeline.version(capture)
