"""Sidecar points of interest: id, number, position and notes, validated strictly."""

from __future__ import annotations

import json

import pytest

from config.errors import QuarantineError
from ingest.sidecar import PlanPosition, Wgs84Position, parse_sidecar


def _parse(poi: dict) -> object:  # type: ignore[type-arg]
    base = {"yaw_deg": 10, "pitch_deg": 0, "kind": "aed"}
    return parse_sidecar(json.dumps({"points_of_interest": [base | poi]}).encode())


def test_the_new_fields_parse() -> None:
    sidecar = _parse({"id": "AED-1", "number": 2, "notes": "in the cabinet",
                      "position": {"frame": "plan", "x": 10, "y": 20}})  # fmt: skip
    (poi,) = sidecar.points_of_interest  # type: ignore[attr-defined]
    assert (poi.id, poi.number, poi.notes) == ("aed-1", "2", "in the cabinet")
    assert isinstance(poi.position, PlanPosition)
    gps = _parse({"position": {"frame": "wgs84", "lat": 47.6, "lon": -122.3, "accuracy_m": 2}})
    assert isinstance(gps.points_of_interest[0].position, Wgs84Position)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("poi", "message"),
    [
        ({"id": "no spaces"}, "points_of_interest[0].id"),
        ({"position": {"frame": "map", "x": 1, "y": 1}}, "frame 'map' is not one of"),
        ({"position": {"frame": "plan", "x": -1, "y": 1}}, "points_of_interest[0].position.x"),
    ],
)
def test_bad_fields_are_refused_by_location(poi: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(QuarantineError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _parse(poi)
