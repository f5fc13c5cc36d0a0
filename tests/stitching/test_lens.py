"""Lens profiles: the shipped TOML, EXIF matching, scaling, projection models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stitching.lens import (
    GENERIC_FOV_DEG,
    Lens,
    LensProfile,
    find_profile,
    generic_profile,
    parse_profiles,
    projection_radius,
)
from tests.support.data import builtin_profiles


def test_builtin_profiles_cover_the_tripod_cameras() -> None:
    names = set(builtin_profiles())
    for wanted in (
        "ricoh-theta-s",
        "ricoh-theta-v",
        "ricoh-theta-z1",
        "ricoh-theta-x",
        "insta360-one-x2",
        "insta360-x3",
        "insta360-x4",
        "samsung-gear-360-2016",
    ):
        assert wanted in names
    for profile in builtin_profiles().values():
        assert len(profile.lenses) == 2
        assert abs(profile.lenses[1].yaw_deg - 180.0) < 5.0, profile.name


def test_profiles_without_published_figures_say_so() -> None:
    theta = builtin_profiles()["ricoh-theta-s"]
    assert theta.needs_circles
    assert theta.lenses[0].fov_deg == GENERIC_FOV_DEG
    assert any("no lens figures" in note for note in theta.notes)


@pytest.mark.parametrize(
    ("make", "model", "expected"),
    [
        ("RICOH", "RICOH THETA S", "ricoh-theta-s"),
        ("Ricoh", "ricoh theta-z1", "ricoh-theta-z1"),
        ("SAMSUNG", "SM-C200", "samsung-gear-360-2016"),
        ("Arashi Vision", "Insta360 X4", "insta360-x4"),
        (None, "RICOH THETA V", "ricoh-theta-v"),
    ],
)
def test_find_profile_by_exif(make: str | None, model: str, expected: str) -> None:
    profile = find_profile(make, model, builtin_profiles())
    assert profile is not None and profile.name == expected


def test_unknown_or_mismatched_camera_has_no_profile() -> None:
    assert find_profile("Canon", "EOS 70D", builtin_profiles()) is None
    assert find_profile("NIKON", "RICOH THETA S", builtin_profiles()) is None
    assert find_profile(None, None, builtin_profiles()) is None


def test_scaled_profile_scales_pixel_figures() -> None:
    gear = builtin_profiles()["samsung-gear-360-2016"]
    small = gear.scaled(2560, 1280)
    ratio = 2560 / 3840
    assert small.lenses[0].radius == pytest.approx(960.0 * ratio)
    assert small.lenses[0].centre is not None and gear.lenses[0].centre is not None
    assert small.lenses[0].centre[0] == pytest.approx(gear.lenses[0].centre[0] * ratio)
    with pytest.raises(ValueError, match="aspect"):
        gear.scaled(1920, 1080)


@pytest.mark.parametrize("projection", ["equidistant", "equisolid", "stereographic"])
def test_projection_rim_is_at_half_fov(projection: str) -> None:
    lens = Lens(fov_deg=200.0, projection=projection, radius=500.0)  # type: ignore[arg-type]
    f = lens.focal(500.0)
    rim = f * float(projection_radius(lens.projection, math.radians(100.0)))
    assert rim == pytest.approx(500.0)
    # Monotonic out to the rim: no two angles land on one radius.
    t = np.linspace(0, math.radians(100.0), 50)
    assert np.all(np.diff(projection_radius(lens.projection, t)) > 0)


def test_generic_profile_is_back_to_back() -> None:
    g = generic_profile()
    assert g.needs_circles and g.lenses[1].yaw_deg == 180.0
    forward = g.lenses[0].rotation() @ np.array([0.0, 0.0, 1.0])
    backward = g.lenses[1].rotation() @ np.array([0.0, 0.0, -1.0])
    assert forward[2] == pytest.approx(1.0) and backward[2] == pytest.approx(1.0)


def test_parse_rejects_bad_profiles() -> None:
    with pytest.raises(ValueError, match="two"):
        parse_profiles("[profile.x]\n[[profile.x.lens]]\n")
    with pytest.raises(ValueError, match="unknown fields"):
        parse_profiles("[profile.x]\n[[profile.x.lens]]\nzoom = 1\n[[profile.x.lens]]\n")
    with pytest.raises(ValueError, match="TOML"):
        parse_profiles("[profile.x")
    parsed = parse_profiles(
        '[profile.x]\nmodels = ["X"]\nframe_size = [100, 50]\n'
        "[[profile.x.lens]]\ncentre = [75, 25]\nradius = 24\n[[profile.x.lens]]\nyaw_deg = 180\n"
    )
    assert isinstance(parsed["x"], LensProfile)
    assert parsed["x"].lenses[0].centre == (75.0, 25.0)
