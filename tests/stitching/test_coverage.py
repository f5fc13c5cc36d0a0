"""Coverage of the sphere from synthetic masks: whole, a one-row tripod band, 44° sweeps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stitching.coverage import coverage
from stitching.sphere import pose_rotation

H = 1024


def _scene(rng: np.random.Generator) -> np.ndarray:
    # Texture with crushed blacks (a dark kettle): real dark patches must not count as holes.
    img = rng.integers(20, 255, (H, 2 * H, 3), dtype=np.uint8)
    img[400:460, 300:420] = 0
    return img


def _rows(pitch_deg: float) -> int:
    return round((0.5 - pitch_deg / 180.0) * H)


def test_a_whole_sphere_is_whole_though_part_of_it_is_black() -> None:
    found = coverage(_scene(np.random.default_rng(1)))
    assert found.full and found.fraction == pytest.approx(1.0, abs=1e-3)
    assert (found.pitch_min_deg, found.pitch_max_deg) == (-90.0, 90.0)


def test_a_one_row_tripod_band_is_partial_with_its_pitch_extents() -> None:
    img = _scene(np.random.default_rng(2))
    img[: _rows(42.0)] = 0
    img[_rows(-50.0) :] = 0
    found = coverage(img)
    expected = (math.sin(math.radians(42)) + math.sin(math.radians(50))) / 2
    assert not found.full and found.fraction == pytest.approx(expected, abs=0.01)
    assert found.pitch_max_deg == pytest.approx(42.0, abs=0.6)
    assert found.pitch_min_deg == pytest.approx(-50.0, abs=0.6)
    assert (found.yaw_min_deg, found.yaw_max_deg) == (-180.0, 180.0)


def test_a_44_degree_sweep_is_about_12_percent_and_its_yaw_range() -> None:
    img = np.zeros((H, 2 * H, 3), np.uint8)
    left, right = round((0.5 - 22 / 360) * 2 * H), round((0.5 + 22 / 360) * 2 * H)
    img[:, left:right] = _scene(np.random.default_rng(3))[:, left:right]
    found = coverage(img)
    assert found.fraction == pytest.approx(44 / 360, abs=0.01)
    assert found.yaw_min_deg == pytest.approx(-22.0, abs=0.6)
    assert found.yaw_max_deg == pytest.approx(22.0, abs=0.6)


def test_a_band_44_degrees_high_covers_sin_22_of_the_sphere() -> None:
    img = _scene(np.random.default_rng(4))
    img[: _rows(22.0)] = 0
    img[_rows(-22.0) :] = 0
    assert coverage(img).fraction == pytest.approx(math.sin(math.radians(22)), abs=0.01)


def test_a_sweep_across_the_back_keeps_one_arc() -> None:
    img = np.zeros((H, 2 * H, 3), np.uint8)
    img[:, :100] = 200
    img[:, -100:] = 200  # 200 px of 2048 round yaw 180
    found = coverage(img)
    assert found.yaw_min_deg == pytest.approx(180 - 100 * 360 / (2 * H), abs=0.6)
    assert found.yaw_max_deg - found.yaw_min_deg == pytest.approx(200 * 360 / (2 * H), abs=1.0)


def test_the_extents_are_those_of_the_levelled_scene() -> None:
    img = _scene(np.random.default_rng(5))
    img[: _rows(42.0)] = 0
    found = coverage(img, pose_rotation(5.0, 0.0))
    # Pitched up 5° when levelled: the top edge dips to 37° on one side, so 37° is safe.
    assert found.pitch_max_deg == pytest.approx(37.0, abs=0.8)
