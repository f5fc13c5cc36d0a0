"""Lenses remembered per camera: approved fits, matched by the frame's size and circles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from stitching.circles import detect_circles
from stitching.lens import Lens, LensProfile, profile_record
from tests.sites.conftest import run_cli
from workers.contract.site import CameraLens
from workers.sites.cameras import (
    fit_for_frame,
    fit_frame,
    fitted_profile,
    frame_geometry,
    note,
    remember_fit,
    remember_lens,
    remembered_fits,
    remembered_lens,
)
from workers.sites.registry import load_site, update_site
from workers.store.local import LocalStore

W, H = 1600, 800


def discs(w: int = W, h: int = H, shift: float = 0.0, radius: float = 370.0) -> np.ndarray:
    """A dual-fisheye-like frame: two textured bright discs on black."""
    rng = np.random.default_rng(3)
    img = np.zeros((h, w, 3), np.uint8)
    for cx in (w * 0.25 + shift, w * 0.75 + shift):
        cv2.circle(img, (round(cx), h // 2), round(radius * w / W), (150, 160, 170), -1)
    texture = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    return np.where(img > 0, img + texture, 0).astype(np.uint8)


def fitted(w: int = W, h: int = H) -> LensProfile:
    circles = detect_circles(discs(w, h))
    assert circles is not None
    lenses = tuple(
        Lens(fov_deg=196.0, projection="equisolid", centre=(c.x, c.y), radius=c.radius,
             yaw_deg=180.0 * i)
        for i, c in enumerate(circles)
    )  # fmt: skip
    return LensProfile(name="fitted", lenses=(lenses[0], lenses[1]), frame_size=(w, h),
                       notes=("lens fitted from the frame",))  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def _learn(store: LocalStore, site: str = "north", **camera: str | None) -> CameraLens:
    record = profile_record(fitted())
    circles = detect_circles(discs())
    assert circles is not None
    return remember_fit(store, site, make=camera.get("make"), model=camera.get("model"),
                        fit=record, frame=frame_geometry(W, H, circles), by="alice",
                        capture_id="c1")  # fmt: skip


def test_a_fit_is_matched_by_frame_size_and_circles(store: LocalStore) -> None:
    _learn(store)
    fits = remembered_fits(load_site(store, "north"), None, None)
    assert len(fits) == 1 and remembered_lens(load_site(store, "north"), None, None) is None
    found = fit_for_frame(fits, discs())
    assert found is not None
    record, profile = found
    assert profile == replace(fitted(), notes=()) and not profile.needs_circles
    assert "a fitted lens model approved for the site's camera of 1600x800 frames by alice" in (
        note(record))  # fmt: skip
    # The same camera's frame a little off (well within the tolerance) still matches ...
    assert fit_for_frame(fits, discs(shift=6.0)) is not None
    # ... other circles, another frame size or no circles at all do not.
    assert fit_for_frame(fits, discs(radius=300.0)) is None
    assert fit_for_frame(fits, discs(shift=60.0)) is None
    assert fit_for_frame(fits, discs(w=1920, h=960)) is None
    assert fit_for_frame(fits, np.zeros((H, W, 3), np.uint8)) is None


def test_fits_are_per_camera_and_per_site(store: LocalStore) -> None:
    _learn(store, make="Acme", model="Dome 1")
    site = load_site(store, "north")
    assert len(remembered_fits(site, "ACME", "dome 1")) == 1
    assert remembered_fits(site, None, None) == []  # a frame without EXIF is another camera
    assert remembered_fits(site, "Acme", "Dome 2") == []
    assert load_site(store, "south") is None, "another site knows nothing of it"


def test_a_new_fit_replaces_the_cameras_fit_for_the_same_frame_only(store: LocalStore) -> None:
    _learn(store)
    _learn(store)
    other = profile_record(fitted(1920, 960))
    circles = detect_circles(discs(1920, 960))
    assert circles is not None
    remember_fit(store, "north", make=None, model=None, fit=other,
                 frame=frame_geometry(1920, 960, circles), by="bob")  # fmt: skip
    site = load_site(store, "north")
    assert site is not None
    assert sorted((c.frame.width, c.approved_by) for c in site.cameras if c.frame) == [
        (1600, "alice"), (1920, "bob")]  # fmt: skip
    # An operator's profile for the default camera (no EXIF) leaves the fits alone ...
    remember_lens(store, "north", make=None, model=None, profile="generic", by="carol")
    site = load_site(store, "north")
    assert site is not None and len(site.cameras) == 3
    # ... for a camera with EXIF, it replaces the camera's fit.
    _learn(store, make="Acme", model="Dome 1")
    remember_lens(store, "north", make="Acme", model="Dome 1", profile="generic", by="dave")
    site = load_site(store, "north")
    assert site is not None
    acme = [c for c in site.cameras if c.make == "Acme"]
    assert [(c.profile, c.fit) for c in acme] == [("generic", None)]


def test_a_bad_fit_is_refused_before_it_is_stored(store: LocalStore) -> None:
    record = profile_record(fitted())
    record["lenses"][0]["fov_deg"] = 400.0
    circles = detect_circles(discs())
    assert circles is not None
    with pytest.raises(ValueError, match="fov_deg 400 is outside"):
        remember_fit(store, "north", make=None, model=None, fit=record,
                     frame=frame_geometry(W, H, circles), by="alice")  # fmt: skip
    assert load_site(store, "north") is None


def test_a_corrupt_stored_fit_fails_with_the_camera_named(store: LocalStore) -> None:
    _learn(store)

    def corrupt(site):  # type: ignore[no-untyped-def]
        camera = site.cameras[0]
        broken = {**(camera.fit or {}), "lenses": [{"fov_deg": "__import__('os')"}] * 2}
        return site.model_copy(update={"cameras": [camera.model_copy(update={"fit": broken})]})

    update_site(store, "north", corrupt)
    fits = remembered_fits(load_site(store, "north"), None, None)
    with pytest.raises(ValueError, match="fit remembered for the site's camera of 1600x800 "
                       "frames is unusable: .*fov_deg must be a finite number"):  # fmt: skip
        fit_for_frame(fits, discs())
    with pytest.raises(ValueError, match="unusable"):
        fitted_profile(fits[0])


def test_the_frame_of_a_fit_prefers_the_detected_circles() -> None:
    record = profile_record(fitted())
    detected = [[401.0, 400.5, 369.0], [1201.0, 400.5, 369.5]]
    assert fit_frame(record, detected).circles == [tuple(c) for c in detected]
    own = fit_frame(record, None)  # no circles in the details: the fitted lenses' own
    assert [c[2] for c in own.circles] == [
        round(lens.radius or 0.0, 2) for lens in fitted().lenses]  # fmt: skip
    assert (own.width, own.height) == (W, H)
    with pytest.raises(ValueError, match="no circle centre"):
        fit_frame({**record, "lenses": [{"fov_deg": 195.0, "projection": "equidistant"}] * 2})


def test_site_show_names_each_camera_and_the_frames_its_fit_is_for(store: LocalStore) -> None:
    _learn(store, make="Acme", model="Cam 1")
    code, out = run_cli(store, "site", "show", "north")
    assert code == 0, out
    assert f"camera Acme Cam 1: lens fitted for {W}x{H} frames, approved by alice" in out
