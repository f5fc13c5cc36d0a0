"""The GeoJSON export: RFC 7946 (validated with geojson-pydantic), inside the footprint.

The floor's fit is a rotated similarity with the plan's y-down reflection (north 30° and
235° off plan-up); every scene and point of interest must land inside the floor's footprint
polygon, at the WGS84 position the synthetic geometry says.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from geojson_pydantic import Feature, FeatureCollection, Point, Polygon

from tests.sites.conftest import PLAN_H, PLAN_W, make_floor, make_site, plan_latlon
from workers.contract.site import SitePoi
from workers.contract.tour import Placement, TourEntry, TourPoi
from workers.export.geojson import build
from workers.export.links import Links
from workers.sites.tour import LinkOptions, build_tour


def _inside(ring: np.ndarray, lon: float, lat: float) -> bool:
    """Ray casting: whether (lon, lat) lies inside the closed ring."""
    inside = False
    for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:], strict=True):
        if (y0 > lat) != (y1 > lat) and lon < x0 + (lat - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _entry(name: str, x: float, y: float, pois: list[TourPoi]) -> TourEntry:
    base = f"scenes/campus/{name}/v1"
    return TourEntry(
        scene=name, title=name, version="v1", base=base, manifest=f"{base}/scene.json",
        thumb=f"{base}/thumb.jpg", placement=Placement(floor="main/1", x=x, y=y, source="plan"),
        heading_deg=0.0, heading_source="sidecar", points_of_interest=pois, viewers={},
        published_at=datetime.now(UTC),
    )  # fmt: skip


@pytest.mark.parametrize("north", [30.0, 235.0])
def test_features_validate_and_lie_inside_the_footprint(north: float) -> None:
    floor = make_floor(north_deg=north)
    registry = make_site(floor).model_copy(
        update={"points_of_interest": [
            SitePoi(id="key-box", floor="main/1", x=1190, y=790, kind="key_box", label="Knox"),
        ]}
    )  # fmt: skip
    door = TourPoi(kind="exit", label="Door 1", number="1", yaw_deg=0, pitch_deg=0,
                   position={"frame": "plan", "x": 5.0, "y": 400.0})  # fmt: skip
    entries = {"a": _entry("a", 300, 200, [door]), "b": _entry("b", 900, 600, [])}
    tour = build_tour("campus", registry, entries, LinkOptions())
    world, plan_only = build(tour, Links("campus"))
    assert plan_only is None
    collection = FeatureCollection[Feature].model_validate(world)
    floors = [f for f in collection.features if f.properties and f.properties["kind"] == "floor"]
    assert len(floors) == 1 and isinstance(floors[0].geometry, Polygon)
    ring = np.array(floors[0].geometry.coordinates[0])
    assert (ring[0] == ring[-1]).all()
    area = 0.5 * np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1])
    assert area > 0, "RFC 7946: exterior rings are counter-clockwise"
    points = [f for f in collection.features if isinstance(f.geometry, Point)]
    assert {f.properties["kind"] for f in points if f.properties} == {
        "scene", "exterior_door", "key_box",
    }  # fmt: skip
    for feature in points:
        lon, lat = feature.geometry.coordinates[:2]
        assert _inside(ring, lon, lat), feature.properties
    # Each plan corner is a vertex, where the synthetic geometry puts it (longitude first).
    for x, y in [(0, 0), (PLAN_W, 0), (PLAN_W, PLAN_H), (0, PLAN_H)]:
        true_lat, true_lon = plan_latlon(x, y, north)
        gap = np.abs(ring[:4] - [true_lon, true_lat]).max(axis=1).min()
        assert gap < 2e-7, (x, y, gap)  # ~2 cm
    scene_a = next(f for f in points if f.properties and f.properties.get("scene") == "a")
    assert scene_a.properties["grid"] == "B2"
    assert scene_a.properties["viewer"] == "offline/scenes/a.html"


def test_a_floor_without_a_fit_goes_to_the_plan_file() -> None:
    registry = make_site(make_floor(with_fit=False))
    tour = build_tour("campus", registry, {"a": _entry("a", 300, 200, [])}, LinkOptions())
    world, plan_only = build(tour, Links("campus", "https://maps.example/s/tok/"))
    assert world["features"] == []
    assert plan_only is not None and plan_only["floors"] == ["main/1"]
    assert "NOT WGS84" in plan_only["coordinates"]
    scene = next(f for f in plan_only["features"] if f["properties"]["kind"] == "scene")
    assert scene["geometry"]["coordinates"] == [300.0, 200.0]
    assert scene["properties"]["viewer"] == "https://maps.example/s/tok/scene/campus/a"
