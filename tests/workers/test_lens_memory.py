"""End to end: an approved lens fit becomes the camera's lens for the site.

A raw dual-fisheye frame from a camera panodock has no profile for, without EXIF, is
stitched with a lens fitted from the frame and held; a person approves it and the fit is
remembered with the frame's size and circles. The next frame of that camera (same size,
same circles, no EXIF) goes straight through, stitched with the remembered fit (no new
fit), and scene.json names who approved it; a frame of another size, or the same camera
at another site, is fitted again and held; a fit that did not converge is not remembered;
a broken record in site.json fails the capture with a reason.

The camera is synthetic (tests/stitching/harness.py renders the sample panorama through a
196 deg equidistant lens pair the stitcher is not told), so nothing but the lens is in doubt.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings
from tests.stitching.harness import render_unknown_dual_fisheye
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.scene import SceneManifest
from workers.contract.site import Site
from workers.ops import review as actions
from workers.sites.registry import load_site, update_site
from workers.state.ledger import State

#: The camera is level (the sidecar says so): only the lens is in doubt.
POSE = {"orientation": {"pitch_deg": 0.0, "roll_deg": 0.0}}


def _camera(pano: np.ndarray, seed: int = 7) -> np.ndarray:
    """A frame of the unknown camera: 1920x960, no vignetting, both lenses exposed alike."""
    case = render_unknown_dual_fisheye(
        pano, 1920, np.random.default_rng(seed), fov_deg=(196.0, 196.0),
        projections=("equidistant",), centre_off=0.0, max_rotation_deg=0.0,
        rim_brightness=(1.0, 1.0), max_ev=0.0,
    )  # fmt: skip
    return case.frame


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


def _capture(
    harness: Harness, tmp_path: Path, name: str, frame: np.ndarray, q: int, **sidecar: str
) -> str:
    raw = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()
    folder = write_folder(tmp_path / name.lower(), {f"{name}.JPG": raw}, {**POSE, **sidecar})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    return capture_id


def _stitch(harness: Harness, capture_id: str) -> dict:  # type: ignore[type-arg]
    keys = actions.keys_of(harness.app.ledger.get(capture_id))
    manifest = SceneManifest.model_validate_json(harness.store.get(keys.manifest))
    return dict(manifest.stitch or {})


def _held_for_the_lens(harness: Harness, capture_id: str) -> None:
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.REVIEW, (capture.state, capture.reason)
    assert (capture.reason or "").startswith("lens: no lens profile"), capture.reason


def test_an_approved_fit_lets_the_cameras_next_frames_through(
    harness: Harness, tmp_path: Path, pano: np.ndarray
) -> None:
    frame = _camera(pano)
    first = _capture(harness, tmp_path, "R0010042", frame, 95)
    _held_for_the_lens(harness, first)
    fitted = _stitch(harness, first)
    assert fitted["profile"] == "fitted" and fitted["lens_fit"]["converged"] is True
    actions.approve(harness.app, harness.store, first, by="alice")

    site = load_site(harness.store, harness.settings.default_site)
    assert site is not None and len(site.cameras) == 1
    camera = site.cameras[0]
    assert (camera.make, camera.model, camera.profile, camera.approved_by) == (
        None, None, None, "alice")  # fmt: skip
    assert camera.fit == fitted["lens_fit"]["profile"]
    assert camera.frame is not None and (camera.frame.width, camera.frame.height) == (1920, 960)
    assert [list(c) for c in camera.frame.circles] == fitted["circles"]
    assert any("lens fit remembered for the site's camera of 1920x960 frames" in (e.detail or "")
               for e in harness.app.ledger.history(first))  # fmt: skip

    # The next frame of that camera: no EXIF, same size and circles. Straight through.
    second = _capture(harness, tmp_path, "R0010043", frame, 90)
    _, manifest = harness.published(second)
    stitch = manifest.stitch or {}
    assert stitch["profile"] == camera.fit["name"] and "lens_fit" not in stitch, "no new fit"
    assert stitch["remembered_fit"]["approved_by"] == "alice"
    assert stitch["remembered_fit"]["capture_id"] == first
    lens = next(c for c in manifest.checks if c.name == "lens")
    assert lens.verdict == "ok", lens
    assert "approved for the site's camera of 1920x960 frames by alice" in lens.message
    assert not any("fitted from the frame" in w for w in manifest.warnings), manifest.warnings

    # A frame of another size is another camera: not matched, fitted again and held.
    smaller = cv2.resize(frame, (1600, 800), interpolation=cv2.INTER_AREA)
    _held_for_the_lens(harness, _capture(harness, tmp_path, "R0010044", smaller, 92))
    # The same camera at another site: that site approved nothing, so it is held there.
    elsewhere = _capture(harness, tmp_path, "R0010045", frame, 91, site="south-campus")
    assert harness.app.ledger.get(elsewhere).site == "south-campus"
    _held_for_the_lens(harness, elsewhere)


def test_a_refused_fit_is_not_remembered(
    harness: Harness, tmp_path: Path, pano: np.ndarray
) -> None:
    # Not one camera: the left lens saw another scene, so the overlap never agrees. (Other
    # circles than _camera's: the stitcher keeps converged fits per frame size and circles,
    # within 1 % of the radius, for the worker process's life.)
    turned = np.roll(cv2.flip(pano, 0), pano.shape[1] // 4, axis=1)
    frame, other = _camera(pano, seed=5), _camera(turned, seed=5)
    frame[:, :960] = other[:, :960]
    first = _capture(harness, tmp_path, "R0010050", frame, 95)
    capture = harness.app.ledger.get(first)
    assert capture.state == State.REVIEW, capture.reason
    assert "could not be fitted" in (capture.reason or "")
    assert _stitch(harness, first)["lens_fit"]["converged"] is False
    actions.approve(harness.app, harness.store, first, by="alice")
    site = load_site(harness.store, harness.settings.default_site)
    assert site is None or site.cameras == []
    assert any("did not converge: nothing remembered" in (e.detail or "")
               for e in harness.app.ledger.history(first))  # fmt: skip


def test_a_broken_remembered_fit_fails_the_capture_with_a_reason(
    harness: Harness, tmp_path: Path, pano: np.ndarray
) -> None:
    frame = _camera(pano)
    first = _capture(harness, tmp_path, "R0010060", frame, 95)
    _held_for_the_lens(harness, first)
    actions.approve(harness.app, harness.store, first, by="alice")

    def corrupt(site: Site) -> Site:
        camera = site.cameras[0]
        fit = {**(camera.fit or {}), "lenses": "eval('1')"}
        return site.model_copy(update={"cameras": [camera.model_copy(update={"fit": fit})]})

    update_site(harness.store, harness.settings.default_site, corrupt)
    second = _capture(harness, tmp_path, "R0010061", frame, 90)
    capture = harness.app.ledger.get(second)
    assert capture.state == State.FAILED, capture.state
    reason = capture.reason or ""
    assert "lens fit remembered for the site's camera of 1920x960 frames is unusable" in reason
    assert "panodock review fix --lens" in reason
