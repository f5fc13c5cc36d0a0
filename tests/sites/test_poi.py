"""Points of interest on the plan: merged by id, placed from the best evidence, with a grid cell."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from tests.sites.conftest import make_floor, make_site, plan_latlon
from workers.contract.site import Site, SitePoi
from workers.contract.tour import Placement, Tour, TourEntry, TourPoi
from workers.sites.tour import LinkOptions, build_tour

NORTH = 30.0


def _entry(name: str, x: float, y: float, heading: float | None, pois: list[TourPoi]) -> TourEntry:
    base = f"scenes/campus/{name}/v1"
    return TourEntry(
        scene=name, title=name, version="v1", base=base, manifest=f"{base}/scene.json",
        thumb=f"{base}/thumb.jpg", placement=Placement(floor="main/1", x=x, y=y, source="plan"),
        heading_deg=heading, heading_source="sidecar" if heading is not None else "none",
        points_of_interest=pois, viewers={}, published_at=datetime.now(UTC),
    )  # fmt: skip


def _yaw(x: float, y: float, heading: float, target: tuple[float, float]) -> float:
    plan = math.degrees(math.atan2(target[0] - x, -(target[1] - y)))
    return (plan - NORTH - heading + 180) % 360 - 180


def _tour(entries: list[TourEntry], registry: Site | None = None) -> Tour:
    registry = registry or make_site(make_floor(north_deg=NORTH))
    return build_tour("campus", registry, {e.scene: e for e in entries}, LinkOptions())


def test_a_poi_two_scenes_see_is_triangulated_into_its_cell() -> None:
    target = (700.0, 300.0)
    fe = dict(kind="extinguisher", id="fe-1", label="FE 1", pitch_deg=-10.0)
    tour = _tour([
        _entry("a", 400, 500, 10.0, [TourPoi(yaw_deg=_yaw(400, 500, 10.0, target), **fe)]),
        _entry("b", 900, 600, 200.0, [TourPoi(yaw_deg=_yaw(900, 600, 200.0, target), **fe)]),
    ])  # fmt: skip
    (poi,) = tour.pois
    assert poi.catalogue_kind == "fire_extinguisher" and poi.kind == "extinguisher"
    p = poi.position
    assert p.source == "triangulated" and (p.x, p.y) == pytest.approx(target, abs=0.01)
    assert p.residual_m == pytest.approx(0.0, abs=1e-6) and p.accuracy_m is not None
    assert p.grid == "D2"
    assert [s.scene for s in poi.scenes] == ["a", "b"]
    assert [r.id for r in tour.points_of_interest] == ["fe-1", "fe-1"]
    assert {s.scene: s.grid for s in tour.scenes} == {"a": "C3", "b": "E4"}
    assert tour.floors[0].grid is not None and tour.floors[0].grid.columns == 6


def test_sidecar_positions_in_each_frame_and_hand_placement_wins() -> None:
    lat, lon = plan_latlon(250, 650, NORTH)
    pois = [
        TourPoi(kind="exit", label="Door 4", number="4", yaw_deg=0, pitch_deg=0,
                position={"frame": "plan", "x": 1000.0, "y": 60.0}),
        TourPoi(kind="aed", id="aed-1", yaw_deg=0, pitch_deg=0,
                position={"frame": "wgs84", "lat": lat, "lon": lon, "accuracy_m": 1.0}),
        TourPoi(kind="key_box", id="kb", yaw_deg=0, pitch_deg=0,
                position={"frame": "local", "x_m": 5.0, "y_m": 5.0}),
        TourPoi(kind="stairs", id="st-1", label="Stair 1", yaw_deg=0, pitch_deg=0,
                position={"frame": "plan", "x": 5000.0, "y": 60.0}),
    ]  # fmt: skip
    registry = make_site(make_floor(north_deg=NORTH)).model_copy(
        update={"points_of_interest": [SitePoi(id="kb", floor="main/1", x=10, y=20, label="Knox")]}
    )
    tour = _tour([_entry("a", 400, 500, 0.0, pois)], registry)
    by_id = {p.id: p for p in tour.pois}
    assert by_id["a-1"].position.source == "plan" and by_id["a-1"].number == "4"
    assert by_id["a-1"].catalogue_kind == "exterior_door" and by_id["a-1"].position.grid == "F1"
    aed = by_id["aed-1"].position
    assert aed.source == "gps" and (aed.x, aed.y) == pytest.approx((250, 650), abs=0.05)
    assert aed.accuracy_m is not None and aed.accuracy_m >= 1.0
    kb = by_id["kb"]
    assert (kb.position.source, kb.position.x, kb.label) == ("manual", 10, "Knox")
    stair = by_id["st-1"].position
    assert stair.source == "none" and "off the 1200x800 plan" in " ".join(stair.notes)


def test_unknown_kinds_are_kept_as_other_and_single_sightings_stay_unplaced() -> None:
    tour = _tour([
        _entry("a", 400, 500, 0.0, [TourPoi(kind="Bike Rack", label="Bikes", yaw_deg=5,
                                            pitch_deg=0)]),
        _entry("b", 900, 600, None, [TourPoi(kind="aed", id="x", yaw_deg=5, pitch_deg=0)]),
        _entry("c", 300, 300, 0.0, [TourPoi(kind="aed", id="x", yaw_deg=5, pitch_deg=0)]),
    ])  # fmt: skip
    by_id = {p.id: p for p in tour.pois}
    bikes = by_id["a-1"]
    assert (bikes.kind, bikes.catalogue_kind, bikes.label) == ("Bike Rack", "other", "Bikes")
    assert "not in the point-of-interest catalogue" in bikes.warnings[0]
    assert not bikes.position.placed and "two are needed" in bikes.position.notes[-1]
    # b has no heading: only c's bearing counts, so x is not triangulated.
    assert not by_id["x"].position.placed and "(c)" in by_id["x"].position.notes[-1]


def test_near_parallel_sightings_are_refused_with_the_reason() -> None:
    target = (1100.0, 400.0)
    tour = _tour([
        _entry(n, 100, y, 0.0, [TourPoi(kind="aed", id="far", yaw_deg=_yaw(100, y, 0.0, target),
                                        pitch_deg=0)])
        for n, y in (("a", 400), ("b", 430))
    ])  # fmt: skip
    (poi,) = tour.pois
    assert not poi.position.placed and "parallel" in poi.position.notes[-1]


def test_documents_written_before_these_fields_still_load() -> None:
    old = _tour([_entry("a", 400, 500, 0.0, [TourPoi(kind="exit", yaw_deg=1, pitch_deg=2)])])
    document = json.loads(old.to_json())
    document.pop("pois")
    for floor in document["floors"]:
        floor.pop("grid"), floor.pop("verified")
    for scene in document["scenes"]:
        scene.pop("grid")
        for poi in scene["points_of_interest"]:
            for key in ("id", "number", "position", "notes"):
                poi.pop(key)
    assert Tour.model_validate(document).scenes[0].points_of_interest[0].kind == "exit"
    site = json.loads(make_site(make_floor()).to_json())
    site.pop("points_of_interest"), site.pop("verifications")
    site["buildings"][0]["floors"][0].pop("grid_m")
    assert Site.model_validate(site).floors()[0][1].grid_m == 10.0
