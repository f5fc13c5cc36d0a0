"""Dual-fisheye stitching against ground truth, on real frames, and its failures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import CaptureError
from stitching.circles import detect_circles
from stitching.fisheye import DualFisheyeRemapper, geometry_for, measure_seam
from stitching.kinds import looks_dual_fisheye
from stitching.lens import find_profile
from tests.stitching.harness import exact_gains, exact_geometry, render_dual_fisheye, score
from tests.stitching.harness import test_profile as harness_profile
from tests.support.data import builtin_profiles, stitch_builtin

DATA = Path(__file__).parent.parent / "data" / "stitching"


@pytest.fixture(scope="module", params=[11, 12])
def case(request: pytest.FixtureRequest, pano: np.ndarray):  # type: ignore[no-untyped-def]
    return render_dual_fisheye(pano, 2048, np.random.default_rng(request.param))


def test_ground_truth_psnr_and_seam(case, pano: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    result = stitch_builtin(case.frame, make=None, model=None, profile=case.profile, out_width=1024)
    assert result.equirect.shape == (512, 1024, 3) and result.kind == "dual_fisheye"
    s = score(result.equirect, pano, width=512)
    assert s.psnr_db >= 35.0, s
    # Within a tenth of a dB or so of putting the frame back together perfectly.
    perfect = DualFisheyeRemapper().render(
        case.frame, exact_geometry(case), 1024, gains=exact_gains(case)
    )
    assert s.psnr_db >= score(perfect, pano, width=512).psnr_db - 0.2
    assert s.coverage == 1.0
    assert s.tile_shift_px <= 1.0
    seam = result.details["seam_shift_px"]
    assert isinstance(seam, float) and seam <= 1.0
    assert result.details["seam_shift_before_px"] >= seam  # type: ignore[operator]


def test_refinement_beats_the_profile_alone(case, pano: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    plain = stitch_builtin(
        case.frame, make=None, model=None, profile=case.profile, out_width=1024, refine=False
    )
    refined = stitch_builtin(
        case.frame, make=None, model=None, profile=case.profile, out_width=1024
    )
    assert (
        score(refined.equirect, pano, width=512).psnr_db
        > score(plain.equirect, pano, width=512).psnr_db
    )


def test_exposure_difference_is_compensated(case) -> None:  # type: ignore[no-untyped-def]
    gains = np.array(
        stitch_builtin(
            case.frame, make=None, model=None, profile=case.profile, out_width=512
        ).details["exposure_gains"]
    )
    true_ratio = 2.0 ** (case.ev[0] - case.ev[1])
    # Lens 1 is brightened by what lens 0 has more of.
    assert gains[1] / gains[0] == pytest.approx(np.full(3, true_ratio), rel=0.03)


def test_circles_found_on_the_rendered_frame(case) -> None:  # type: ignore[no-untyped-def]
    found = detect_circles(case.frame)
    assert found is not None
    for circle, lens in zip(found, case.profile.lenses, strict=True):
        assert circle.x == pytest.approx(lens.centre[0], abs=1.5)
        assert circle.y == pytest.approx(lens.centre[1], abs=1.5)
        assert circle.radius == pytest.approx(lens.radius, abs=2.0)


def test_maps_are_cached(case) -> None:  # type: ignore[no-untyped-def]
    remapper = DualFisheyeRemapper()
    geometry = geometry_for(case.profile, 2048, 1024)
    first = remapper.maps(geometry, 512)
    assert remapper.maps(geometry, 512) is first
    out = remapper.render(case.frame, geometry, 512)
    assert out.shape == (256, 512, 3)


def test_a_camera_s_seam_fit_is_kept_and_checked(case, pano: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    remapper = DualFisheyeRemapper()

    def stitch(frame: np.ndarray) -> dict[str, object]:
        return stitch_builtin(
            frame, make=None, model=None, profile=case.profile, out_width=256, remapper=remapper
        ).details

    first = stitch(case.frame)
    again = stitch(case.frame)
    assert not first["seam_fit_reused"] and again["seam_fit_reused"]
    assert again["seam_correction_deg"] == first["seam_correction_deg"]
    assert again["seam_shift_px"] <= 1.0  # type: ignore[operator]
    # Another unit of the same model, knocked off differently: the kept fit fails the
    # check and the frame is refined afresh.
    other = render_dual_fisheye(pano, 2048, np.random.default_rng(99), misalign_deg=2.0)
    fresh = stitch(other.frame)
    assert not fresh["seam_fit_reused"] and fresh["seam_shift_px"] <= 1.0  # type: ignore[operator]


@pytest.mark.parametrize("feather_deg", [2.0, 6.0])
def test_lenses_are_feathered_linearly_across_the_seam(feather_deg: float) -> None:
    # Lens 0 (right half) all 200, lens 1 all 100, exact back-to-back geometry: the seam
    # is the great circle z = 0, and lens 0's weight is 0.5 + asin(z) / feather there.
    frame = np.full((256, 512, 3), 100, np.uint8)
    frame[:, 256:] = 200
    geometry = geometry_for(harness_profile(512), 512, 256)
    gains = (np.full(3, 0.8), np.full(3, 1.25))
    # Exact at full width; the default samples the polar rows at a half or a quarter of it,
    # which rounds the ramp's corners there (a few levels on this 70-level step).
    out, thinned = (
        DualFisheyeRemapper(feather_deg=feather_deg, thin_poles=thin).render(
            frame, geometry, 720, gains=gains
        )
        for thin in (False, True)
    )
    bright, dark = 200 * 0.8 ** (1 / 2.2), 100 * 1.25 ** (1 / 2.2)
    yaw = ((np.arange(720) + 0.5) / 720 - 0.5) * 2 * np.pi
    pitch = (0.5 - (np.arange(360) + 0.5) / 360) * np.pi
    z = np.cos(pitch)[:, None] * np.cos(yaw)[None, :]
    w0 = np.clip(0.5 + np.arcsin(z) / np.radians(feather_deg), 0.0, 1.0)
    expected = dark + (bright - dark) * w0
    assert np.abs(out[..., 1] - expected).max() <= 1.5
    assert np.abs(thinned[..., 1] - expected).max() <= 5.0
    # On the equator, 90 % of the ramp's width at each of the two seams is mixed.
    mixed = np.abs(out[180, :, 1] - (bright + dark) / 2) < 0.45 * (bright - dark)
    assert mixed.mean() == pytest.approx(2 * 0.9 * feather_deg / 360, rel=0.35)


def test_bicubic_and_sharpened_bilinear_are_sharper(case, pano: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    # At the default output width (the frame's), where the equirect is as fine as the
    # circles; for much smaller outputs bicubic aliases more than bilinear. The default
    # bilinear render sharpens the frame first and closes most of the gap.
    geometry, gains = exact_geometry(case), exact_gains(case)
    plain, cubic, sharpened = (
        score(remapper.render(case.frame, geometry, 2048, gains=gains), pano, width=1024).psnr_db
        for remapper in (
            DualFisheyeRemapper(sharpen=0.0),
            DualFisheyeRemapper(interpolation=cv2.INTER_CUBIC),
            DualFisheyeRemapper(),
        )
    )
    assert cubic > plain + 0.3
    assert sharpened > plain + 0.3


def test_theta_s_real_frame() -> None:
    frame = cv2.imread(str(DATA / "thetaS_raw_jacoblange.jpg"))
    assert looks_dual_fisheye(frame)
    result = stitch_builtin(frame, make="RICOH", model="RICOH THETA S", out_width=1024)
    assert result.details["profile"] == "ricoh-theta-s"
    assert any("no lens figures" in w for w in result.warnings)
    # Measured 8.2 px before refinement and 0.9 px after (px of the 1920x1080 frame).
    assert result.details["seam_shift_px"] < 1.5  # type: ignore[operator]
    assert result.details["seam_shift_before_px"] > 5.0  # type: ignore[operator]
    assert (result.equirect.max(axis=2) > 0).mean() > 0.95  # the kitchen has black corners


def test_gear_360_real_frame_with_published_calibration() -> None:
    frame = cv2.imread(str(DATA / "gear360_extract_cynricfu.jpg"))
    assert looks_dual_fisheye(frame)
    result = stitch_builtin(frame, make="SAMSUNG", model="SM-C200", out_width=1024)
    assert result.details["profile"] == "samsung-gear-360-2016"
    profile = find_profile("SAMSUNG", "SM-C200", builtin_profiles())
    assert profile is not None
    geometry = geometry_for(profile, frame.shape[1], frame.shape[0])
    # This camera is not the one the calibration was made on: its left circle sits some
    # 14 px left of and 6 px above the published one. Measured 12.0 px with the profile
    # alone, 2.45 px refined (the rest is parallax of the things held close to the camera).
    assert measure_seam(frame, geometry).median_shift() > 8.0
    assert result.details["seam_shift_px"] < 3.5  # type: ignore[operator]
    dx, dy = result.details["seam_centre_shift_px"]  # type: ignore[misc]
    assert dx < -8.0 and dy < 0.0
    assert (result.equirect.max(axis=2) > 0).mean() > 0.99


def test_an_equirect_is_not_dual_fisheye(pano: np.ndarray) -> None:
    assert not looks_dual_fisheye(cv2.resize(pano, (1024, 512)))


def test_unknown_camera_without_circles_fails_naming_the_frame(pano: np.ndarray) -> None:
    with pytest.raises(CaptureError, match="IMG_0042.JPG.*no two fisheye circles"):
        stitch_builtin(
            cv2.resize(pano, (1024, 512)), make="Acme", model="Cam 1", name="IMG_0042.JPG"
        )


def test_unknown_camera_with_circles_has_its_lens_fitted(case) -> None:  # type: ignore[no-untyped-def]
    result = stitch_builtin(case.frame, make="Acme", model="Cam 1", out_width=512)
    assert any("no lens profile for Acme Cam 1: lens fitted" in w for w in result.warnings)
    assert result.details["profile"] == "fitted" and "circles" in result.details
