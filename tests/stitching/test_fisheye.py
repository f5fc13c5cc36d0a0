"""Dual-fisheye stitching against ground truth, on real frames, and its failures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import CaptureError
from stitching.circles import detect_circles
from stitching.fisheye import DualFisheyeRemapper, geometry_for, measure_seam
from stitching.kinds import looks_dual_fisheye, stitch_dual_fisheye
from stitching.lens import find_profile
from tests.stitching.harness import render_dual_fisheye, score

DATA = Path(__file__).parent.parent / "data" / "stitching"


@pytest.fixture(scope="module", params=[11, 12])
def case(request: pytest.FixtureRequest, pano: np.ndarray):  # type: ignore[no-untyped-def]
    return render_dual_fisheye(pano, 2048, np.random.default_rng(request.param))


def test_ground_truth_psnr_and_seam(case, pano: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    result = stitch_dual_fisheye(
        case.frame, make=None, model=None, profile=case.profile, out_width=1024
    )
    assert result.equirect.shape == (512, 1024, 3) and result.kind == "dual_fisheye"
    s = score(result.equirect, pano, width=512)
    assert s.psnr_db >= 35.0, s
    assert s.coverage == 1.0
    assert s.tile_shift_px <= 1.0
    seam = result.details["seam_shift_px"]
    assert isinstance(seam, float) and seam <= 1.0
    assert result.details["seam_shift_before_px"] >= seam  # type: ignore[operator]


def test_refinement_beats_the_profile_alone(case, pano: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    plain = stitch_dual_fisheye(
        case.frame, make=None, model=None, profile=case.profile, out_width=1024, refine=False
    )
    refined = stitch_dual_fisheye(
        case.frame, make=None, model=None, profile=case.profile, out_width=1024
    )
    assert (
        score(refined.equirect, pano, width=512).psnr_db
        > score(plain.equirect, pano, width=512).psnr_db
    )


def test_exposure_difference_is_compensated(case) -> None:  # type: ignore[no-untyped-def]
    gains = np.array(
        stitch_dual_fisheye(
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


def test_theta_s_real_frame() -> None:
    frame = cv2.imread(str(DATA / "thetaS_raw_jacoblange.jpg"))
    assert looks_dual_fisheye(frame)
    result = stitch_dual_fisheye(frame, make="RICOH", model="RICOH THETA S", out_width=1024)
    assert result.details["profile"] == "ricoh-theta-s"
    assert any("no lens figures" in w for w in result.warnings)
    # Measured 11.0 px before refinement and 1.6 px after (px of the 1920x1080 frame).
    assert result.details["seam_shift_px"] < 2.5  # type: ignore[operator]
    assert result.details["seam_shift_before_px"] > 5.0  # type: ignore[operator]
    assert (result.equirect.max(axis=2) > 0).mean() > 0.95  # the kitchen has black corners


def test_gear_360_real_frame_with_published_calibration() -> None:
    frame = cv2.imread(str(DATA / "gear360_extract_cynricfu.jpg"))
    assert looks_dual_fisheye(frame)
    result = stitch_dual_fisheye(frame, make="SAMSUNG", model="SM-C200", out_width=1024)
    assert result.details["profile"] == "samsung-gear-360-2016"
    profile = find_profile("SAMSUNG", "SM-C200")
    assert profile is not None
    geometry = geometry_for(profile, frame.shape[1], frame.shape[0])
    before = measure_seam(frame, geometry).median_shift()
    assert result.details["seam_shift_px"] <= before + 1e-6  # type: ignore[operator]
    assert (result.equirect.max(axis=2) > 0).mean() > 0.99


def test_an_equirect_is_not_dual_fisheye(pano: np.ndarray) -> None:
    assert not looks_dual_fisheye(cv2.resize(pano, (1024, 512)))


def test_unknown_camera_without_circles_fails_naming_the_frame(pano: np.ndarray) -> None:
    with pytest.raises(CaptureError, match="IMG_0042.JPG.*no two fisheye circles"):
        stitch_dual_fisheye(
            cv2.resize(pano, (1024, 512)), make="Acme", model="Cam 1", name="IMG_0042.JPG"
        )


def test_unknown_camera_with_circles_uses_the_generic_model(case) -> None:  # type: ignore[no-untyped-def]
    result = stitch_dual_fisheye(case.frame, make="Acme", model="Cam 1", out_width=512)
    assert any("generic 195° model" in w for w in result.warnings)
    assert "circles" in result.details
