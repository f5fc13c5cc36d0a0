"""Benchmark (issue 13): tour updates per minute at 50, 500 and 2,000 scenes of one site.

Run as ``python -m tests.bench tour [--sizes 50,500,2000] [--local]`` from the repo root;
prints one table. Not collected by pytest. Starts its own SeaweedFS (real S3) on a free
loopback port unless ``--local``.

It drives the publish stage's tour update directly with synthetic entries (a scene every
3 m on a grid on one floor, each with a POI and the scene.json viewer configs a real
publish carries), so tiling does not dominate:

- **new**: :class:`workers.sites.tour_index.TourIndexer` as a worker runs it (entry +
  marker per publish, tour.json rebuilt debounced); the clock runs from the first publish
  of an empty site until tour.json holds all N scenes (the final rebuild included).
- **old**: the last commit's path, kept here only (:func:`legacy_publish`): a conditional
  read-modify-write of the whole tour.json per publish with its all-pairs neighbour search.
  Its rate at N is measured over the last ``--tail`` publishes of a site seeded with the
  other N - tail scenes, or as many as fit in a minute (a whole 2,000-scene run would take
  hours: every scene here is placed on one floor, the all-pairs search's worst case).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from config.settings import Settings
from tests.support.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3
from workers.contract.keys import SceneKeys, tour_key
from workers.contract.scene import TileLevel, TileSet
from workers.contract.site import Building, Floor, PlanImage, Site
from workers.contract.tour import LinkRequest, Placement, Tour, TourEntry, TourLink, TourPoi
from workers.contract.viewers import viewer_configs, viewer_tours
from workers.sites.geo import wrap_deg
from workers.sites.registry import update_site
from workers.sites.tour import (
    LinkOptions,
    TourFloor,
    TourScene,
    _explicit,
    _neighbour,
    _Spot,
    build_tour,
)
from workers.sites.tour_index import TourIndexer
from workers.store.base import ObjectStore
from workers.store.conditional import update_object
from workers.store.factory import make_store
from workers.store.local import LocalStore

SITE = "district"
SCALE = 20.0  # px per m
SPACING_M = 3.0


def registry(columns: int) -> Site:
    """One building, one floor, a plan big enough for the grid of scenes."""
    side = int((columns + 2) * SPACING_M * SCALE)
    plan = PlanImage(key=f"sites/{SITE}/plans/b/1.png", width=side, height=side)
    floor = Floor(id="1", plan=plan, scale_px_per_m=SCALE, north_offset_deg=0.0)
    return Site(id=SITE, buildings=[Building(id="b", floors=[floor])])


def entry(n: int, columns: int) -> TourEntry:
    """Scene ``n`` of the grid, with what a real publish puts in an entry."""
    scene = f"scene-{n:05d}"
    keys = SceneKeys(site=SITE, scene=scene, version=f"v{n:05d}")
    levels = [TileLevel(z=1, size=512, tiles=1), TileLevel(z=2, size=1024, tiles=2)]
    tiles = TileSet(tile_size=512, face_size=1024, faces=list("bdflru"), levels=levels, count=30)
    x, y = (1 + n % columns) * SPACING_M * SCALE, (1 + n // columns) * SPACING_M * SCALE
    return TourEntry(
        scene=scene,
        title=f"Room {n}",
        version=keys.version,
        base=keys.prefix,
        manifest=keys.manifest,
        thumb=keys.thumb,
        placement=Placement(floor="b/1", x=x, y=y, source="plan"),
        heading_deg=0.0,
        heading_source="sidecar",
        points_of_interest=[TourPoi(kind="exit", label="Exit", yaw_deg=10.0, pitch_deg=-5.0)],
        viewers=viewer_configs(keys, tiles, 0.0),
        published_at=datetime.now(UTC),
    )


# --- the last commit's path (72cf310), kept for comparison only -------------------------------


def legacy_links(
    scenes: list[TourScene], floors: dict[str, TourFloor], options: LinkOptions
) -> list[TourLink]:
    """The all-pairs neighbour search of the last commit (O(N²) per floor)."""
    spots = {
        s.scene: _Spot(s, s.position.x, s.position.y, floors[s.position.floor])
        for s in scenes
        if s.position.placed
        and s.position.x is not None
        and s.position.y is not None
        and s.position.floor in floors
    }
    chosen: dict[tuple[str, str], TourLink] = {}
    for a in spots.values():
        candidates = sorted(
            (_neighbour(a, b, options) for b in spots.values() if b is not a and b.floor is a.floor),  # noqa: E501
            key=lambda link: link.distance_m or 0.0,
        )  # fmt: skip
        kept: list[TourLink] = []
        for link in candidates:
            if link.distance_m is None or link.distance_m > options.max_distance_m:
                continue
            if len(kept) >= options.k:
                break
            sep = options.min_separation_deg
            if all(abs(wrap_deg(link.yaw_deg - k.yaw_deg)) >= sep for k in kept):
                kept.append(link)
        for link in kept:
            chosen[(link.source, link.target)] = link
            back = _neighbour(spots[link.target], a, options)
            chosen.setdefault((back.source, back.target), back)
    for scene in scenes:
        for request in scene.links:
            if request.to == scene.scene or request.to not in {s.scene for s in scenes}:
                continue
            link = _explicit(scene, request, spots, options)
            chosen[(link.source, link.target)] = link
            target = next(s for s in scenes if s.scene == request.to)
            if not any(r.to == scene.scene for r in target.links):
                back = _explicit(
                    target,
                    LinkRequest(to=scene.scene, kind=request.kind, label=request.label),
                    spots,
                    options,
                )
                chosen[(back.source, back.target)] = back
    return [chosen[k] for k in sorted(chosen)]


def legacy_build(site: str, reg: Site | None, entries: dict[str, TourEntry]) -> Tour:
    """build_tour with the last commit's neighbour search."""
    tour = build_tour(site, reg, entries, LinkOptions())
    floors = {f.id: f for f in tour.floors}
    tour = tour.model_copy(update={"links": legacy_links(tour.scenes, floors, LinkOptions())})
    return tour.model_copy(update={"viewers": viewer_tours(tour)})


def legacy_publish(store: ObjectStore, site: str, reg: Site, new: TourEntry) -> None:
    """The last commit's publish: rewrite the whole tour.json, conditionally."""

    def rebuild(current: bytes | None) -> bytes:
        entries = Tour.model_validate_json(current).entries() if current else {}
        return legacy_build(site, reg, {**entries, new.scene: new}).to_json()

    update_object(store, tour_key(site), rebuild, attempts=40)


# --- runs ---------------------------------------------------------------------------------------


def run_new(store: ObjectStore, n: int) -> tuple[float, int]:
    """Scenes per minute from the first publish to a tour.json with all ``n`` scenes."""
    columns = math.ceil(math.sqrt(n))
    update_site(store, SITE, lambda _: registry(columns))
    indexer = TourIndexer(store, debounce_seconds=2.0)
    entries = [entry(i, columns) for i in range(n)]
    start = time.perf_counter()
    for e in entries:
        indexer.publish(SITE, e)
    indexer.close()
    seconds = time.perf_counter() - start
    size = len(store.get(tour_key(SITE)))
    assert len(Tour.model_validate_json(store.get(tour_key(SITE))).scenes) == n
    return n / seconds * 60.0, size


def run_old(store: ObjectStore, n: int, tail: int, budget_seconds: float = 60.0) -> float:
    """Scenes per minute of the last ``tail`` publishes of an ``n``-scene site, old path.

    Stops after ``budget_seconds`` (at least one publish).
    """
    columns = math.ceil(math.sqrt(n))
    reg = registry(columns)
    entries = [entry(i, columns) for i in range(n)]
    seed = {e.scene: e for e in entries[: n - tail]}
    store.put(tour_key(SITE), legacy_build(SITE, reg, seed).to_json())
    start, done = time.perf_counter(), 0
    for e in entries[n - tail :]:
        legacy_publish(store, SITE, reg, e)
        done += 1
        if time.perf_counter() - start > budget_seconds:
            break  # enough for a rate; a whole tail at 2,000 scenes takes many minutes
    return done / (time.perf_counter() - start) * 60.0


def _wipe(store: ObjectStore) -> None:
    for key in list(store.list("sites/")) + list(store.list("tour-dirty/")):
        store.delete(key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench tour", description=__doc__)
    parser.add_argument("--sizes", default="50,500,2000")
    parser.add_argument("--tail", type=int, default=20, help="old path: publishes timed")
    parser.add_argument("--local", action="store_true", help="the local store, not SeaweedFS")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        s3 = None if args.local else SeaweedS3(tmp / "s3")
        try:
            if s3 is None:
                store: ObjectStore = LocalStore(tmp / "store")
            else:
                s3.start()
                store = make_store(
                    Settings(
                        data_dir=tmp,
                        s3_endpoint=s3.endpoint,
                        s3_bucket="bench-tour",
                        s3_access_key=ACCESS_KEY,
                        s3_secret_key=SecretStr(SECRET_KEY),
                        s3_secure=False,
                    )
                )
            store.bootstrap()
            rows = []
            for n in sizes:
                _wipe(store)
                new, size = run_new(store, n)
                _wipe(store)
                old = run_old(store, n, min(args.tail, n))
                rows.append((n, old, new, size))
        finally:
            if s3 is not None:
                s3.stop()
    where = "local store" if args.local else "SeaweedFS S3"
    print(f"tour updates, one site, synthetic entries, {where}")
    print(
        f"| scenes | old: scenes/min (last {args.tail}) | new: scenes/min (whole run) | tour.json |"
    )
    print("|---:|---:|---:|---:|")
    for n, old, new, size in rows:
        print(f"| {n} | {old:,.1f} | {new:,.0f} | {size / 1e6:.1f} MB |")
    first, last = rows[0][2], rows[-1][2]
    print(f"new: rate at {rows[-1][0]} / rate at {rows[0][0]} = {last / first:.2f}")
    return 0
