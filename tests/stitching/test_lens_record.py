"""Lens profiles as records (site.json, scene.json): round trip, and hostile records refused."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stitching.lens import Lens, LensProfile, generic_profile, profile_from_record, profile_record
from tests.support.data import builtin_profiles


def _fitted() -> LensProfile:
    return LensProfile(
        name="fitted",
        lenses=(
            Lens(fov_deg=197.25, projection="equisolid", centre=(1440.5, 1441.25), radius=1412.0,
                 a=0.01, b=-0.02, c=0.003, vb=-0.4, vc=0.1, vd=-0.02, pitch_deg=0.3),
            Lens(fov_deg=196.5, projection="equisolid", centre=(4320.0, 1439.0), radius=1410.5,
                 yaw_deg=180.7, roll_deg=-1.2),
        ),
        frame_size=(5760, 2880),
        notes=("fitted from the frame",),
    )  # fmt: skip


@pytest.mark.parametrize("profile", [_fitted(), generic_profile(), *builtin_profiles().values()],
                         ids=lambda p: p.name)  # fmt: skip
def test_round_trip_through_json(profile: LensProfile) -> None:
    record = json.loads(json.dumps(profile_record(profile)))
    assert profile_from_record(record) == profile


def _with(change: dict[str, Any], lens: int | None = None) -> dict[str, Any]:
    record = copy.deepcopy(profile_record(_fitted()))
    (record if lens is None else record["lenses"][lens]).update(change)
    return record


@pytest.mark.parametrize(
    ("record", "says"),
    [
        (_with({"fov_deg": 300.0}, 0), "fov_deg 300 is outside 120-250"),
        (_with({"fov_deg": 90}, 1), "lens 1: fov_deg 90"),
        (_with({"fov_deg": float("nan")}, 0), "fov_deg must be a finite number"),
        (_with({"fov_deg": "197"}, 0), "fov_deg must be a finite number"),
        (_with({"fov_deg": True}, 0), "fov_deg must be a finite number"),
        (_with({"projection": "__import__('os')"}, 0), "unknown projection"),
        (_with({"radius": 0.0}, 0), "radius 0 px"),
        (_with({"radius": -5.0}, 1), "radius -5 px"),
        (_with({"radius": 1e9}, 1), "radius 1e+09 px"),
        (_with({"centre": [6000.0, 10.0]}, 0), "outside the 5760x2880 frame"),
        (_with({"centre": [10.0, -1.0]}, 1), "outside the 5760x2880 frame"),
        (_with({"centre": [1.0, 2.0, 3.0]}, 1), "centre must be [x, y]"),
        (_with({"a": 50.0}, 0), "a 50 is outside ±1"),
        (_with({"yaw_deg": 1e6}, 1), "yaw_deg"),
        (_with({"zoom": 2.0}, 0), "unknown fields ['zoom']"),
        (_with({"frame_size": None}), "needs the record's frame_size"),
        (_with({"frame_size": [0, 2880]}), "frame_size[0] must be an integer"),
        (_with({"frame_size": [5760.5, 2880]}), "frame_size[0] must be an integer"),
        (_with({"frame_size": [10**9, 2880]}), "frame_size[0] must be an integer"),
        (_with({"lenses": []}), "exactly two lenses"),
        (_with({"lenses": "xx"}), "exactly two lenses"),
        (_with({"name": "x" * 10_000}), "name must be a string"),
        (_with({"name": 5}), "name must be a string"),
        (_with({"notes": ["n"] * 1000}), "notes: a list of 16 strings at most"),
        (_with({"models": "Gear 360"}), "models: a list"),
        (_with({"extra": {"deep": [1] * 5}}), "unknown keys ['extra']"),
        ([1, 2], "expected an object"),
    ],
)
def test_hostile_records_are_refused(record: Any, says: str) -> None:
    with pytest.raises(ValueError) as err:
        profile_from_record(record)
    assert says in str(err.value)


def test_lens_not_an_object_is_refused() -> None:
    record = profile_record(_fitted())
    record["lenses"][1] = "lens"
    with pytest.raises(ValueError, match="lens 1: expected an object"):
        profile_from_record(record)
