"""Plan fits on synthetic control points with known noise, and the local tangent plane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from config.errors import ConfigError
from workers.sites.geo import FitModel, LocalFrame, accept_fit, bearing_deg, fit_plan

NOISE_PX = 2.0


def _truth(scale: float, north_deg: float, origin: tuple[float, float]) -> np.ndarray:
    """local metres -> plan px for a plan with this scale and north offset (y down)."""
    c, s = math.cos(math.radians(north_deg)), math.sin(math.radians(north_deg))
    return np.array(
        [[scale * c, scale * s, origin[0]], [scale * s, -scale * c, origin[1]], [0, 0, 1]]
    )


def _points(seed: int, count: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = _truth(20.0, 30.0, (800.0, 600.0))
    local = rng.uniform(-30, 30, (count, 2))
    exact = (np.column_stack([local, np.ones(count)]) @ truth.T)[:, :2]
    return local, exact + rng.normal(0, NOISE_PX, (count, 2)), exact


@pytest.mark.parametrize("model", ["similarity", "affine"])
@pytest.mark.parametrize("seed", range(4))
def test_similarity_and_affine_recover_the_truth_within_the_noise(
    model: FitModel, seed: int
) -> None:
    local, noisy, _ = _points(seed)
    fit = fit_plan(noisy, local, model)
    probe = np.random.default_rng(100 + seed).uniform(-25, 25, (50, 2))
    expected = (np.column_stack([probe, np.ones(50)]) @ _truth(20.0, 30.0, (800, 600)).T)[:, :2]
    error = np.hypot(*(fit.to_plan(probe) - expected).T)
    assert error.max() < 3 * NOISE_PX
    assert fit.rms_px < 2 * NOISE_PX
    assert fit.scale_px_per_m == pytest.approx(20.0, rel=0.01)
    assert fit.north_offset_deg == pytest.approx(30.0, abs=0.5)
    assert np.allclose(fit.to_local(fit.to_plan(probe)), probe)


def test_leave_one_out_ranks_the_models_as_measured() -> None:
    # BRIEF.md: 6 points, 2 px noise: LOO similarity 2.7 < affine 4.8 < homography 18.3.
    local, noisy, _ = _points(0)
    models: tuple[FitModel, ...] = ("similarity", "affine", "homography")
    fits = {m: fit_plan(noisy, local, m) for m in models}
    assert fits["homography"].rms_px < fits["affine"].rms_px < fits["similarity"].rms_px
    loo = [fits[m].loo_rms_px for m in ("similarity", "affine", "homography")]
    assert loo == sorted(loo)
    assert fits["similarity"].loo_rms_px < 2 * NOISE_PX < fits["homography"].loo_rms_px


def test_an_exact_fit_has_zero_residuals() -> None:
    local, _, exact = _points(3)
    fit = fit_plan(exact, local, "similarity")
    assert fit.loo_rms_px < 1e-6


def test_an_outlier_is_named_and_refused() -> None:
    local, noisy, _ = _points(1, count=7)
    noisy[4] += (35.0, -20.0)  # a control point clicked in the wrong corner of the room
    names = [f"gcp-{c}" for c in "abcdefg"]
    fit = fit_plan(noisy, local, "similarity", names)
    assert fit.worst == "gcp-e"
    with pytest.raises(ConfigError, match="worst point gcp-e"):
        accept_fit(fit, max_loo_px=10.0)
    fine = fit_plan(np.delete(noisy, 4, axis=0), np.delete(local, 4, axis=0), "similarity")
    accept_fit(fine, max_loo_px=10.0)


def test_the_reflection_is_needed() -> None:
    # Plan y runs down while north runs up: a proper rotation cannot fit; ours is a mirror.
    local, noisy, _ = _points(2)
    fit = fit_plan(noisy, local, "similarity")
    linear = fit.matrix[:2, :2]
    assert np.linalg.det(linear) < 0
    north_on_plan = linear @ np.array([0.0, 1.0])
    assert north_on_plan[1] < 0  # north is towards the top of the plan (smaller y)
    c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
    rotation = np.array([[c, -s], [s, c]]) * 20.0
    centred = local - local.mean(axis=0)
    unreflected = centred @ rotation.T + noisy.mean(axis=0)
    assert np.hypot(*(unreflected - noisy).T).mean() > 100 * fit.rms_px


def test_too_few_points_and_degenerate_points_are_refused() -> None:
    local, noisy, _ = _points(0, count=3)
    with pytest.raises(ConfigError, match="at least 4"):
        fit_plan(noisy, local, "affine")
    line = np.column_stack([np.arange(5.0), np.arange(5.0)])
    with pytest.raises(ConfigError, match="degenerate"):
        fit_plan(line * 10, line, "affine")


def test_local_frame_measures_metres() -> None:
    # Independent check: one arc-second along the WGS84 meridian and parallel, from the
    # radii of curvature M and N (textbook formulas, not the ECEF route the code takes).
    lat = 47.62
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    w = 1 - e2 * math.sin(math.radians(lat)) ** 2
    arcsec = math.radians(1 / 3600)
    north_m = a * (1 - e2) / w**1.5 * arcsec
    east_m = a / math.sqrt(w) * math.cos(math.radians(lat)) * arcsec
    frame = LocalFrame(lat, -122.34)
    east_north = frame.to_local([lat + 1 / 3600, lat], [-122.34, -122.34 + 1 / 3600])
    assert east_north[0] == pytest.approx([0.0, north_m], abs=0.01)
    assert east_north[1] == pytest.approx([east_m, 0.0], abs=0.01)


@pytest.mark.parametrize(
    ("dx", "dy", "north", "bearing"),
    [(1, 0, 0, 90), (0, -1, 0, 0), (0, 1, 0, 180), (0, -1, 30, 330), (1, 0, 90, 0)],
)
def test_bearing_from_plan_steps(dx: float, dy: float, north: float, bearing: float) -> None:
    assert bearing_deg(dx, dy, north) == pytest.approx(bearing)
