"""Triangulating a point of interest from the bearings of placed, oriented scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.sites.triangulate import Ray, TriangulationRefused, triangulate

SCALE = 20.0  # px per metre


def _ray(name: str, x: float, y: float, target: tuple[float, float], noise_deg: float = 0.0) -> Ray:
    plan = math.degrees(math.atan2(target[0] - x, -(target[1] - y)))
    return Ray(name, x, y, plan + noise_deg)


def test_two_scenes_put_the_point_within_half_a_metre() -> None:
    # Scenes 5-15 m from the point, 40-140° apart as seen from it, headings 0.5° off (1 sigma).
    rng = np.random.default_rng(7)
    for _ in range(50):
        target = rng.uniform([300, 300], [900, 500])
        first = rng.uniform(0, 360)
        spots = []
        for bearing in (first, first + rng.uniform(40, 140)):
            distance = rng.uniform(5, 15) * SCALE
            a = math.radians(bearing)
            spots.append(target + distance * np.array([math.sin(a), -math.cos(a)]))
        rays = [
            _ray(name, *spot, tuple(target), float(rng.normal(0, 0.5)))
            for name, spot in zip("ab", spots, strict=True)
        ]
        got = triangulate(rays, SCALE)
        error_m = math.hypot(got.x_px - target[0], got.y_px - target[1]) / SCALE
        assert error_m < 0.5, (target, spots, got)
        assert got.accuracy_m >= got.residual_m


def test_exact_bearings_meet_exactly_and_three_report_a_residual() -> None:
    target = (700.0, 300.0)
    got = triangulate([_ray("a", 400, 500, target), _ray("b", 900, 600, target)], SCALE)
    assert (got.x_px, got.y_px) == pytest.approx(target, abs=1e-6)
    assert got.residual_m == pytest.approx(0.0, abs=1e-9)
    three = triangulate(
        [
            _ray("a", 400, 500, target),
            _ray("b", 900, 600, target),
            _ray("c", 700, 700, target, 3.0),
        ],
        SCALE,
    )
    assert three.residual_m > 0.05
    # c is 20 m away with its heading 3° off: about 1 m sideways, pulled to ~0.5 m by a and b.
    assert math.hypot(three.x_px - 700, three.y_px - 300) / SCALE < 1.0


def test_near_parallel_rays_are_refused_with_a_reason() -> None:
    # Two scenes on one line with the point far ahead: the bearings differ by ~1°.
    target = (1100.0, 400.0)
    rays = [_ray("a", 100, 400, target), _ray("b", 100, 420, target)]
    with pytest.raises(TriangulationRefused, match="parallel"):
        triangulate(rays, SCALE)
    # Facing each other along one line: parallel too (the point could be anywhere between).
    with pytest.raises(TriangulationRefused, match="parallel"):
        triangulate([Ray("a", 100, 400, 90.0), Ray("b", 900, 400, 270.0)], SCALE)


def test_a_point_behind_a_scene_or_a_single_ray_is_refused() -> None:
    with pytest.raises(TriangulationRefused, match="behind scene b"):
        triangulate([Ray("a", 100, 400, 90.0), Ray("b", 500, 100, 0.0)], SCALE)
    with pytest.raises(TriangulationRefused, match="2 are needed"):
        triangulate([Ray("a", 100, 400, 90.0)], SCALE)
