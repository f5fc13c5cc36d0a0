"""The tour: link directions, neighbour choice, explicit links, POIs, concurrent updates."""

from __future__ import annotations

import math
import multiprocessing
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.sites.conftest import SITE, make_floor, make_site
from workers.contract.keys import tour_key
from workers.contract.site import Site
from workers.contract.tour import (
    LinkRequest,
    Placement,
    PlacementSource,
    Tour,
    TourEntry,
    TourPoi,
)
from workers.sites.registry import update_site
from workers.sites.tour import LinkOptions, build_tour
from workers.sites.tour_update import publish_scene_to_tour
from workers.store.local import LocalStore

OPTIONS = LinkOptions(k=4, max_distance_m=15.0, min_separation_deg=25.0, camera_height_m=1.6)


def _entry(
    scene: str,
    xy: tuple[float, float] | None = None,
    heading: float | None = 0.0,
    *,
    floor: str = "main/1",
    source: PlacementSource = "plan",
    pois: list[TourPoi] | None = None,
    links: list[LinkRequest] | None = None,
    route: str | None = None,
    index: int | None = None,
) -> TourEntry:
    placement = (
        Placement(floor=floor, x=xy[0], y=xy[1], source=source) if xy else Placement(floor=floor)
    )
    base = f"scenes/{SITE}/{scene}/v1"
    return TourEntry(
        scene=scene,
        title=scene.title(),
        version="v1",
        base=base,
        manifest=f"{base}/scene.json",
        thumb=f"{base}/thumb.jpg",
        placement=placement,
        heading_deg=heading,
        heading_source="sidecar" if heading is not None else "none",
        route=route,
        index=index,
        points_of_interest=pois or [],
        links=links or [],
        viewers={},
        published_at=datetime.now(UTC),
    )


def _tour(*entries: TourEntry, site: Site | None = None) -> Tour:
    registry = site or make_site(make_floor())
    return build_tour(SITE, registry, {e.scene: e for e in entries}, OPTIONS)


def _link(tour: Tour, source: str, target: str) -> Any:
    return next(k for k in tour.links if (k.source, k.target) == (source, target))


@pytest.mark.parametrize(
    ("north", "heading_a", "heading_b", "yaw_ab", "yaw_ba"),
    [
        (0.0, 0.0, 0.0, 90.0, -90.0),  # B due east, both facing north
        (0.0, 90.0, 0.0, 0.0, -90.0),  # A faces east: B dead ahead
        (0.0, 0.0, 200.0, 90.0, 70.0),  # B faces SSW: west is 70° to its right
        (30.0, 0.0, 0.0, 60.0, -120.0),  # plan-right is 60° (plan north is 30° to the right)
        (30.0, 60.0, 240.0, 0.0, 0.0),  # facing each other along plan-right
    ],
)
def test_link_yaw_is_in_the_source_panorama_frame(
    north: float, heading_a: float, heading_b: float, yaw_ab: float, yaw_ba: float
) -> None:
    tour = _tour(
        _entry("a", (600, 400), heading_a),
        _entry("b", (700, 400), heading_b),
        site=make_site(make_floor(north_deg=north)),
    )
    ab, ba = _link(tour, "a", "b"), _link(tour, "b", "a")
    assert ab.yaw_deg == pytest.approx(yaw_ab, abs=1e-3)
    assert ba.yaw_deg == pytest.approx(yaw_ba, abs=1e-3)
    assert ab.distance_m == pytest.approx(5.0)
    assert ab.pitch_deg == pytest.approx(-math.degrees(math.atan2(1.6, 5.0)), abs=1e-3)
    pannellum = tour.viewers["pannellum"]["scenes"]["a"]["hotSpots"]
    assert [(h["sceneId"], h["yaw"]) for h in pannellum] == [("b", ab.yaw_deg)]
    marzipano = tour.viewers["marzipano"]["scenes"][0]["linkHotspots"]
    assert marzipano[0]["yaw"] == pytest.approx(math.radians(ab.yaw_deg))
    assert marzipano[0]["pitch"] == pytest.approx(-math.radians(ab.pitch_deg))  # + is down


def test_neighbours_skip_near_duplicate_directions_and_far_scenes() -> None:
    tour = _tour(
        _entry("a", (100, 400)),
        _entry("b", (160, 400)),  # 3 m east
        _entry("c", (220, 405)),  # 6 m east, behind b as seen from a
        _entry("d", (100, 300)),  # 5 m north
        _entry("far", (1000, 400)),  # 45 m: beyond the 15 m limit
    )
    from_a = {k.target for k in tour.links if k.source == "a"}
    assert from_a == {"b", "d"}
    assert ("c", "b") in {(k.source, k.target) for k in tour.links}
    assert not [k for k in tour.links if "far" in (k.source, k.target)]
    pairs = {(k.source, k.target) for k in tour.links if k.kind == "neighbour"}
    assert all((t, s) in pairs for s, t in pairs), "links go both ways"


def test_explicit_stairs_link_between_floors() -> None:
    site = make_site(make_floor("1"), make_floor("2"))
    stairs = LinkRequest(to="landing", kind="stairs", label="Stairs up")
    tour = _tour(
        _entry("hall", (600, 400), 90.0, links=[stairs]),
        _entry("landing", (600, 300), 0.0, floor="main/2"),  # 5 m north of the hall
        site=site,
    )
    up, down = _link(tour, "hall", "landing"), _link(tour, "landing", "hall")
    assert (up.kind, up.label, up.direction_known) == ("stairs", "Stairs up", True)
    assert up.yaw_deg == pytest.approx(-90.0, abs=0.01)  # north, seen facing east
    assert up.distance_m == pytest.approx(5.0, abs=0.01)
    assert down.yaw_deg == pytest.approx(180.0, abs=0.01) or down.yaw_deg == pytest.approx(
        -180.0, abs=0.01
    )
    # Without fits the direction is unknown: yaw 0, flagged for a person to fix.
    bare = make_site(make_floor("1", with_fit=False), make_floor("2", with_fit=False))
    tour = _tour(
        _entry("hall", (600, 400), links=[stairs]),
        _entry("landing", (600, 300), floor="main/2"),
        site=bare,
    )
    assert _link(tour, "hall", "landing").direction_known is False


def test_pois_needs_placement_and_sequence_in_the_tour() -> None:
    exit_sign = TourPoi(kind="exit", label="Exit", yaw_deg=-30.0, pitch_deg=-5.0)
    tour = _tour(
        _entry("a", (100, 400), route="r", index=0, pois=[exit_sign]),
        _entry("b", None, route="r", index=1),
        _entry("c", (300, 400), route="r", index=2),
        _entry("lost", None, heading=None),
    )
    assert tour.needs_placement == ["lost"] and tour.needs_heading == ["lost"]
    b = next(s for s in tour.scenes if s.scene == "b")
    assert (b.position.source, b.position.x, b.position.y) == ("sequence", 200.0, 400.0)
    assert b.placement.source == "none", "the entry keeps the scene's own evidence"
    assert [(p.scene, p.kind) for p in tour.points_of_interest] == [("a", "exit")]
    hotspots = tour.viewers["pannellum"]["scenes"]["a"]["hotSpots"]
    info_spots = [h for h in hotspots if h["type"] == "info"]
    assert [(h["yaw"], h["pitch"], h["text"]) for h in info_spots] == [(-30.0, -5.0, "Exit")]
    node = next(n for n in tour.viewers["photo_sphere_viewer"]["nodes"] if n["id"] == "a")
    assert node["markers"][0]["tooltip"] == "Exit"
    assert node["data"]["plan"] == {"x": 100.0, "y": 400.0}
    info = tour.viewers["marzipano"]["scenes"][0]["infoHotspots"][0]
    assert info["yaw"] == pytest.approx(math.radians(-30)) and info["title"] == "Exit"


def test_manual_placement_survives_a_gps_republish(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    update_site(store, SITE, lambda _: make_site(make_floor()))
    publish_scene_to_tour(store, SITE, _entry("a", (100, 100), source="manual"))
    tour = publish_scene_to_tour(store, SITE, _entry("a", (900, 700), source="gps"))
    assert tour.scenes[0].position.source == "manual" and tour.scenes[0].position.x == 100
    tour = publish_scene_to_tour(store, SITE, _entry("a", (500, 500), source="plan"))
    assert tour.scenes[0].position.source == "plan"


def _publish_many(root: str, names: list[str]) -> None:
    store = LocalStore(Path(root))
    for i, name in enumerate(names):
        publish_scene_to_tour(store, SITE, _entry(name, (100 + 37 * i, 200)))


def test_concurrent_updates_keep_every_scene(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    update_site(store, SITE, lambda _: make_site(make_floor()))
    threads = [
        threading.Thread(
            target=_publish_many, args=(str(tmp_path), [f"t{i}-{j}" for j in range(3)])
        )
        for i in range(6)
    ]
    fork = multiprocessing.get_context("fork")
    procs = [
        fork.Process(target=_publish_many, args=(str(tmp_path), [f"p{i}-{j}" for j in range(3)]))
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for proc in procs:
        proc.start()
    for thread in threads:
        thread.join(timeout=60)
    for proc in procs:
        proc.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    expected = {f"t{i}-{j}" for i in range(6) for j in range(3)} | {
        f"p{i}-{j}" for i in range(3) for j in range(3)
    }
    assert {s.scene for s in tour.scenes} == expected
