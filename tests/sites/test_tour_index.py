"""Per-scene tour entries and the debounced index (issue 13): same tour, nothing lost, healed."""

from __future__ import annotations

import multiprocessing
import random
import time
from pathlib import Path

from config.settings import Settings
from tests.bench.tour import legacy_publish
from tests.sites.conftest import SITE, make_floor, make_site
from tests.sites.test_tour import _entry
from workers.contract.keys import tour_dirty_key, tour_entry_key, tour_key
from workers.contract.site import Site
from workers.contract.tour import LinkRequest, Tour, TourEntry, TourPoi
from workers.sites.registry import update_site
from workers.sites.tour_index import TourIndexer, abandoned_sites, mark_dirty, write_entry
from workers.sites.tour_update import rebuild_tour
from workers.store.base import ObjectStore
from workers.store.factory import make_store
from workers.store.local import LocalStore


def _entries(count: int, seed: int = 7) -> list[TourEntry]:
    """Scenes scattered over the plan: neighbours, far ones, unplaced, a route, links, POIs."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        name = f"s{i:03d}"
        if i % 9 == 4:  # unplaced; some interpolated on a route
            out.append(_entry(name, None, route="walk" if i % 2 else None, index=i))
            continue
        xy = (rng.uniform(50, 1150), rng.uniform(50, 750))
        pois = [
            TourPoi(kind="exit", label=f"Exit {i}", yaw_deg=rng.uniform(-180, 180), pitch_deg=0)
        ]
        links = [LinkRequest(to=f"s{(i + 5) % count:03d}", kind="door")] if i % 7 == 0 else []
        heading = rng.uniform(0, 360) if i % 3 else None
        route, index = ("walk", i) if i % 2 else (None, None)
        out.append(_entry(name, xy, heading, pois=pois, links=links, route=route, index=index))
    return out


def _registry() -> Site:
    return make_site(make_floor())


def _published(store: ObjectStore) -> Tour:
    return Tour.model_validate_json(store.get(tour_key(SITE)))


def test_the_index_equals_the_old_whole_rewrite_for_the_same_entries(tmp_path: Path) -> None:
    entries = _entries(60)
    old_store, new_store = LocalStore(tmp_path / "old"), LocalStore(tmp_path / "new")
    for store in (old_store, new_store):
        update_site(store, SITE, lambda _: _registry())
    for e in entries:
        legacy_publish(old_store, SITE, _registry(), e)
    indexer = TourIndexer(new_store, debounce_seconds=0.05, inline_below=10)
    for e in entries:
        indexer.publish(SITE, e)
    indexer.close()
    old, new = _published(old_store), _published(new_store)
    assert len(old.links) > 60  # the scatter does make neighbours
    assert new.links == old.links
    assert [(s.scene, s.position) for s in new.scenes] == [
        (s.scene, s.position) for s in old.scenes
    ]
    assert new.points_of_interest == old.points_of_interest
    assert new.needs_placement == old.needs_placement and new.needs_placement
    assert new.needs_heading == old.needs_heading
    assert not new_store.exists(tour_dirty_key(SITE))  # rebuilt: the marker is gone


def _publish_in_process(settings: Settings, names: list[str]) -> None:
    store = make_store(settings)
    indexer = TourIndexer(store, debounce_seconds=0.05, inline_below=0)
    for i, name in enumerate(names):
        indexer.publish(SITE, _entry(name, (100 + 23 * (i % 40), 100 + 50 * (i // 40))))
    indexer.close()


def test_two_processes_publishing_one_site_lose_nothing(s3_settings: Settings) -> None:
    store = make_store(s3_settings)
    store.bootstrap()
    update_site(store, SITE, lambda _: _registry())
    fork = multiprocessing.get_context("fork")
    names = [[f"p{p}-{j:02d}" for j in range(25)] for p in range(2)]
    procs = [fork.Process(target=_publish_in_process, args=(s3_settings, n)) for n in names]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    tour = _published(store)
    assert {s.scene for s in tour.scenes} == set(names[0]) | set(names[1])
    assert len(list(store.list(f"sites/{SITE}/tour/scenes/"))) == 50


def test_a_stale_index_is_healed_by_the_next_rebuild(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    update_site(store, SITE, lambda _: _registry())
    indexer = TourIndexer(store, debounce_seconds=0.05)
    indexer.publish(SITE, _entry("a", (100, 100)))
    # A worker died between its entries and the index: the entries are there, tour.json not.
    for name, x in (("b", 200), ("c", 300)):
        write_entry(store, SITE, _entry(name, (x, 100)))
    mark_dirty(store, SITE)
    assert [s.scene for s in _published(store).scenes] == ["a"]
    tour = rebuild_tour(store, SITE)
    assert [s.scene for s in tour.scenes] == ["a", "b", "c"]
    assert [s.scene for s in _published(store).scenes] == ["a", "b", "c"]
    assert {(k.source, k.target) for k in tour.links} >= {("a", "b"), ("b", "c")}
    assert not store.exists(tour_dirty_key(SITE))


def test_an_abandoned_marker_is_swept_by_another_process(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    update_site(store, SITE, lambda _: _registry())
    # The worker that wrote these died inside its debounce: nobody rebuilds for it.
    for name, x in (("a", 100), ("b", 200)):
        write_entry(store, SITE, _entry(name, (x, 100)))
    mark_dirty(store, SITE)
    time.sleep(0.3)
    assert abandoned_sites(store, 0.2) == [SITE]
    other = TourIndexer(store, debounce_seconds=0.05, sweep_after_seconds=0.2, inline_below=0)
    other.publish("elsewhere", _entry("x"))  # any work starts its thread, which sweeps first
    deadline = time.monotonic() + 10
    while not store.exists(tour_key(SITE)) and time.monotonic() < deadline:
        time.sleep(0.05)
    other.close()
    assert [s.scene for s in _published(store).scenes] == ["a", "b"]
    assert abandoned_sites(store, 0.0) == []


def test_a_tour_written_before_entries_is_kept(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    update_site(store, SITE, lambda _: _registry())
    for name, x in (("a", 100), ("b", 200)):
        legacy_publish(store, SITE, _registry(), _entry(name, (x, 100)))
    assert not store.exists(tour_entry_key(SITE, "a"))
    indexer = TourIndexer(store, debounce_seconds=0.05)
    indexer.publish(SITE, _entry("c", (300, 100)))
    assert [s.scene for s in _published(store).scenes] == ["a", "b", "c"]
    assert store.exists(tour_entry_key(SITE, "a")) and store.exists(tour_entry_key(SITE, "b"))


def test_a_big_site_is_indexed_after_the_debounce_not_per_publish(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    update_site(store, SITE, lambda _: _registry())
    indexer = TourIndexer(store, debounce_seconds=0.3, inline_below=0)
    first = indexer.publish(SITE, _entry("a", (100, 100)))
    indexer.publish(SITE, _entry("b", (200, 100)))
    assert first.scene == "a" and store.exists(tour_entry_key(SITE, "b"))
    assert not store.exists(tour_key(SITE))  # not yet: one rebuild will take both
    deadline = time.monotonic() + 10
    while not store.exists(tour_key(SITE)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [s.scene for s in _published(store).scenes] == ["a", "b"]
    indexer.close()
