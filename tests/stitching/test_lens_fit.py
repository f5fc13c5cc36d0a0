"""Fitting the lens from the frame, for dual-fisheye cameras without a profile (issue 17)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import CaptureError
from stitching.circles import Circle, detect_circles
from stitching.equirect import rotate_equirect
from stitching.fisheye import DualFisheyeRemapper
from stitching.fisheye.fit import MAX_SHIFT_PX, LensFits, pose_angles
from stitching.frames import StitchResult
from stitching.lens import profile_from_record
from stitching.sphere import pose_rotation
from stitching.upright import estimate_up
from tests.stitching.harness import UnknownLensCase, render_unknown_dual_fisheye, score_unknown
from tests.support.data import stitch_builtin
from workers.pipeline.orientation import APPLY_CONFIDENCE

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module", params=[(21, 0.0), (22, 90.0)], ids=["roll0", "roll90"])
def unknown(request: pytest.FixtureRequest, pano: np.ndarray) -> UnknownLensCase:
    seed, roll = request.param
    return render_unknown_dual_fisheye(pano, 1920, np.random.default_rng(seed), roll_deg=roll)


def _stitch(frame: np.ndarray, fits: LensFits, remapper: DualFisheyeRemapper | None = None):  # type: ignore[no-untyped-def]
    return stitch_builtin(
        frame, make=None, model=None, out_width=1920, lens_fits=fits,
        remapper=remapper or DualFisheyeRemapper(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def first(unknown: UnknownLensCase) -> tuple[LensFits, DualFisheyeRemapper, StitchResult]:
    """A camera's first frame stitched without a profile (one fit, shared by the tests)."""
    fits, remapper = LensFits(), DualFisheyeRemapper()
    return fits, remapper, _stitch(unknown.frame, fits, remapper)


def test_the_lens_is_fitted_from_the_frame(
    unknown: UnknownLensCase, first: tuple[LensFits, DualFisheyeRemapper, StitchResult]
) -> None:
    result = first[2]
    fit = result.details["lens_fit"]
    assert result.details["profile"] == "fitted" and fit["converged"], fit
    assert not fit["reused"]
    truth = unknown.profile.lenses[0]
    assert fit["projection"] == truth.projection
    assert abs(fit["fov_deg"][0] - truth.fov_deg) < 1.5, (fit["fov_deg"], truth.fov_deg)
    assert abs(fit["rotation_deg"] - unknown.rotation_deg) < 0.5
    assert fit["residual"] < 0.2
    assert result.details["seam_shift_px"] <= 2.0
    assert result.details["seam_shift_before_px"] == fit["seam_shift_generic_px"]
    assert fit["seam_shift_generic_px"] > 2.0  # the generic model alone was off
    assert profile_from_record(fit["profile"]).lenses[0].projection == truth.projection
    assert any("lens fitted from the frame" in w for w in result.warnings)
    s = score_unknown(result.equirect, unknown, upright=unknown.level)
    assert s.psnr_aligned_db >= 30.0 and s.psnr_db >= 30.0, s
    assert s.tilt_deg <= 0.5, s


def test_a_camera_s_later_frames_reuse_the_fit(
    unknown: UnknownLensCase, first: tuple[LensFits, DualFisheyeRemapper, StitchResult]
) -> None:
    fits, remapper, _ = first
    # The same camera's next frame: re-encoded, so its circles come out a little different.
    ok, buf = cv2.imencode(".jpg", unknown.frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    second = _stitch(cv2.imdecode(buf, cv2.IMREAD_COLOR), fits, remapper)
    assert second.details["lens_fit"]["reused"] and second.details["seam_fit_reused"]
    assert second.details["seam_shift_px"] <= 2.0


def test_the_fitted_pose_reads_back_as_yaw_pitch_roll() -> None:
    for angles in [(3.0, 2.0, 178.0), (-1.5, 0.7, -179.0), (10.0, -50.0, 30.0)]:
        assert np.allclose(pose_angles(pose_rotation(*angles)), angles)


def _circled(img: np.ndarray, size: int) -> np.ndarray:
    """A square crop of ``img`` at ``size`` px, black outside its inscribed circle."""
    h, w = img.shape[:2]
    side = min(h, w)
    square = cv2.resize(img[:side, :side], (size, size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[:size, :size]
    outside = np.hypot(xx + 0.5 - size / 2, yy + 0.5 - size / 2) > 0.47 * size
    square[outside] = 0
    return square


def _unrelated_pair(pano: np.ndarray, *, masked: bool) -> np.ndarray:
    other = cv2.imread(str(DATA / "stitching" / "lunchroom12" / "img01.jpg"))
    assert other is not None
    a = pano[300:1500, 600:1800]
    b = other[200:1100, :]
    if masked:
        return np.hstack([_circled(b, 960), _circled(a, 960)])
    return np.hstack(
        [cv2.resize(b, (960, 960)), cv2.resize(a, (960, 960), interpolation=cv2.INTER_AREA)]
    )


def test_two_unrelated_photos_are_refused_with_a_reason_and_not_kept(pano: np.ndarray) -> None:
    frame = _unrelated_pair(pano, masked=True)
    circles = detect_circles(frame)
    assert circles is not None  # they pass for fisheye circles ...
    fits = LensFits()
    fit, reused = fits.fit(frame, circles)
    assert not reused
    assert not fit.converged and "do not show the same scene" in fit.reason, fit.summary()
    # ... and the stitch says so: rendered for a person to look at, never quietly fine. It
    # fits again: a fit that did not converge is not kept for the camera's next frame.
    result = _stitch(frame, fits)
    details = result.details["lens_fit"]
    assert result.details["profile"] == "fitted" and details["converged"] is False
    assert details["reused"] is False
    assert details["reason"] == fit.reason
    assert any("could not be fitted from the frame" in w for w in result.warnings)


def test_unrelated_photos_without_circles_fail_naming_the_frame(pano: np.ndarray) -> None:
    frame = _unrelated_pair(pano, masked=False)
    with pytest.raises(CaptureError, match="side.jpg: no lens profile for an unknown camera"):
        stitch_builtin(frame, make=None, model=None, name="side.jpg", lens_fits=LensFits())


def test_kept_fits_match_circles_within_a_percent_of_the_radius(
    unknown: UnknownLensCase,
) -> None:
    fits = LensFits()
    circles = detect_circles(unknown.frame)
    assert circles is not None
    fit, reused = fits.fit(unknown.frame, circles)
    assert fit.converged and not reused
    c0, c1 = circles
    near = (Circle(c0.x + 0.5 * 0.01 * c0.radius, c0.y, c0.radius), c1)
    far = (Circle(c0.x + 2.0 * 0.01 * c0.radius, c0.y, c0.radius), c1)
    assert fits.fit(unknown.frame, near)[1]
    assert not fits.fit(unknown.frame, far)[1]


def test_real_frames_without_a_profile() -> None:
    # Theta S video frame: fitted (its lens 1 sits ~9 deg off back to back, as the builtin
    # profile's refinement finds too).
    theta = cv2.imread(str(DATA / "stitching" / "thetaS_raw_jacoblange.jpg"))
    fit = _stitch(theta, LensFits()).details["lens_fit"]
    assert fit["converged"] and fit["seam_shift_px"] <= 1.5, fit
    # Gear 360 video frame: its lens housing, lit by the sun, shows round the picture; the
    # picture's own circle is found inside it, and the lens is fitted (the calibration in
    # config/lenses.toml is not used: no make, no model).
    gear = cv2.imread(str(DATA / "stitching" / "gear360_extract_cynricfu.jpg"))
    result = _stitch(gear, LensFits())
    fit = result.details["lens_fit"]
    limit = MAX_SHIFT_PX * gear.shape[1] / 1920
    assert fit["converged"] and fit["seam_shift_px"] <= limit, fit
    assert result.details["seam_shift_px"] <= limit
    assert fit["seam_shift_generic_px"] > 4 * limit  # the generic model was far off
    assert result.details["seam_step_pct"] <= 2.5  # no vignetting band at the seams
    # ... and it comes out level: the horizon estimate is sure, and after levelling by it
    # the estimate finds nothing left to level.
    est = estimate_up(result.equirect)
    assert est.confidence >= APPLY_CONFIDENCE, est
    levelled = rotate_equirect(result.equirect, pose_rotation(est.pitch_deg, est.roll_deg))
    again = estimate_up(levelled)
    assert again.confidence >= APPLY_CONFIDENCE and again.tilt_deg <= 2.0, again
