"""The checks stage through the whole pipeline: what scene.json records and what review does.

A clean equirect without EXIF publishes directly; a one-row tripod set is published
``partial`` with its pitch extents and every viewer config limited to them; a raw
dual-fisheye frame from an unknown camera (no EXIF, no sidecar) waits for review with the
lens check naming why.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings
from tests.stitching.harness import render_views
from tests.support.pipeline import Harness, file_candidate, folder_candidate, write_folder
from workers.contract.keys import SceneKeys
from workers.pipeline.review import load_hold
from workers.state.ledger import State

DATA = Path(__file__).parents[1] / "data"
NAMES = ["coverage", "level", "privacy"]


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


def test_a_clean_equirect_without_exif_publishes_with_its_checks(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    (tmp_path / "summit.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "summit.jpg"))
    harness.drain()
    _, manifest = harness.published(capture_id)
    assert [c.name for c in manifest.checks] == NAMES
    assert all(c.verdict == "ok" for c in manifest.checks), manifest.checks
    assert not manifest.partial and manifest.coverage is not None
    assert manifest.coverage.fraction == pytest.approx(1.0, abs=1e-3)
    assert "minPitch" not in manifest.viewers["pannellum"]
    privacy = next(c for c in manifest.checks if c.name == "privacy")
    assert "off for this site" in privacy.message  # the test settings turn blurring off


def test_a_one_row_tripod_set_is_published_partial_with_pitch_limits(
    harness: Harness, tmp_path: Path, pano: np.ndarray
) -> None:
    frames, _ = render_views(
        pano, rows=[(0.0, 8)], hfov_deg=75.0, size=(640, 480), rng=np.random.default_rng(7)
    )
    files = {
        f"{i:02d}_{f.name}": cv2.imencode(".jpg", f.image)[1].tobytes()
        for i, f in enumerate(frames)
    }
    sidecar = {"scene": "hall", "kind": "multishot", "rig": {"yaw_step_deg": 45}}
    capture_id = harness.ingest(folder_candidate(write_folder(tmp_path / "hall", files, sidecar)))
    harness.drain()
    _, manifest = harness.published(capture_id)
    cov = manifest.coverage
    assert manifest.partial and cov is not None
    # 75° x 60° views: the band reaches about ±29° at a frame's centre, less between two.
    assert 20.0 < cov.pitch_max_deg < 30.0 and -30.0 < cov.pitch_min_deg < -20.0, cov
    assert (cov.yaw_min_deg, cov.yaw_max_deg) == (-180.0, 180.0)
    assert 0.35 < cov.fraction < 0.5, cov
    checks = {c.name: c for c in manifest.checks}
    assert checks["frames"].verdict == "ok" and checks["coverage"].verdict == "ok"
    pannellum = manifest.viewers["pannellum"]
    assert (pannellum["minPitch"], pannellum["maxPitch"]) == (cov.pitch_min_deg, cov.pitch_max_deg)
    assert pannellum["avoidShowingBackground"] is True and "minYaw" not in pannellum
    low, high = manifest.viewers["marzipano"]["viewLimits"]["pitch"]
    assert (low, high) == pytest.approx(np.radians([-cov.pitch_max_deg, -cov.pitch_min_deg]))
    psv = manifest.viewers["photo_sphere_viewer"]
    assert psv["visibleRange"]["verticalRange"] == pytest.approx(
        np.radians([cov.pitch_min_deg, cov.pitch_max_deg])
    )
    assert psv["maxFov"] <= cov.pitch_max_deg - cov.pitch_min_deg


def test_a_raw_frame_from_an_unknown_camera_waits_for_review(
    harness: Harness, tmp_path: Path
) -> None:
    frame = cv2.imread(str(DATA / "stitching" / "thetaS_raw_jacoblange.jpg"))
    # Re-encoded by cv2: no EXIF model; a single file: no sidecar device.
    (tmp_path / "r0010042.jpg").write_bytes(cv2.imencode(".jpg", frame)[1].tobytes())
    capture_id = harness.ingest(file_candidate(tmp_path / "r0010042.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.REVIEW, capture.reason
    assert "lens: no lens profile for an unknown camera" in (capture.reason or "")
    pointer = list(harness.store.list(f"scenes/{capture.site}/{capture.scene}/"))
    version = next(k.split("/")[3] for k in pointer if k.endswith("scene.json"))
    hold = load_hold(harness.store, SceneKeys(capture.site, capture.scene, version))
    assert hold is not None
    checks = {c.name: c for c in hold.checks}
    # Fitted from the frame: a warning, so the scene waits for a person.
    assert checks["lens"].verdict == "warn" and checks["lens"].value == "fitted"
    assert checks["seam"].verdict in ("ok", "warn") and checks["exposure"].verdict == "ok"
