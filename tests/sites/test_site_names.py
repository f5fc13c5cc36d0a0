"""One naming rule: a site typed ``North-Campus`` anywhere is site ``north-campus``.

Before the rule, ``panodock site add-floor North-Campus`` registered ``sites/North-Campus/``
while a capture whose sidecar said ``"site": "North-Campus"`` was published into
``north-campus``: the scene was never placed on the floor registered for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import Settings
from tests.sites.conftest import gcp_args, make_floor, make_site, run_cli
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.keys import site_key, tour_key
from workers.contract.site import Site
from workers.contract.tour import LinkRequest, Placement, Tour, TourEntry
from workers.sites.registry import load_site, update_site
from workers.sites.tour import LinkOptions, build_tour
from workers.state.ledger import State
from workers.store.local import LocalStore

TYPED = "North-Campus"
STORED = "north-campus"


def _add_floor(store: LocalStore, plan: Path, site: str = TYPED) -> tuple[int, str]:
    return run_cli(
        store,
        *("site", "add-floor", site, "1", "--plan", str(plan), "--scale", "20", "--north", "0"),
        *gcp_args(0.0, 3),
        "--max-loo-m",
        "0.5",
    )


def test_a_capture_into_north_campus_is_placed_on_the_floor_registered_for_it(
    settings: Settings, tmp_path: Path, plan_file: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    store = harness.store
    code, out = _add_floor(store, plan_file)
    assert code == 0, out
    assert out.splitlines()[0] == f"site {TYPED} is stored as {STORED} (names are lower-case)"
    assert list(store.list(f"sites/{TYPED}/")) == []

    folder = write_folder(
        tmp_path / "lobby",
        {"pano.jpg": small_pano_jpeg},
        {
            "site": TYPED,
            "scene": "Lobby",
            "floor": "1",
            "position": {"frame": "plan", "x": 300, "y": 400},
        },
    )
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PUBLISHED, capture.reason
    assert (capture.site, capture.scene) == (STORED, "lobby")

    tour = Tour.model_validate_json(store.get(tour_key(STORED)))
    assert [f.id for f in tour.floors] == ["main/1"]
    (scene,) = tour.scenes
    assert scene.scene == "lobby"
    assert scene.position.placed, scene.position.notes
    assert (scene.position.floor, scene.position.source) == ("main/1", "plan")
    assert (scene.position.x, scene.position.y) == (300, 400)
    assert tour.needs_placement == []
    assert not store.exists(tour_key(TYPED))


def test_the_cli_finds_the_site_however_it_is_typed(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    assert _add_floor(store, plan_file)[0] == 0
    # Registering again in another case replaces the floor of the same site.
    code, out = _add_floor(store, plan_file, site="NORTH-CAMPUS")
    assert code == 0 and "site NORTH-CAMPUS is stored as north-campus" in out
    site = load_site(store, STORED)
    assert site is not None and site.id == STORED
    assert [f"{b.id}/{f.id}" for b, f in site.floors()] == ["main/1"]
    assert all(k.startswith(f"sites/{STORED}/") for k in store.list("sites/"))

    code, out = run_cli(store, "site", "show", TYPED)
    assert code == 0 and f"site {STORED}: 1 floor(s)" in out
    code, out = run_cli(store, "site", "show", STORED)
    assert code == 0 and "is stored as" not in out


def test_a_name_that_is_not_a_slug_is_refused_by_name(
    tmp_path: Path, plan_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(tmp_path / "store")
    code, _ = _add_floor(store, plan_file, site="North Campus")
    assert code == 1
    assert "site 'North Campus': use 1-100 letters, digits" in capsys.readouterr().err
    assert list(store.list("")) == []


def test_show_points_at_a_registry_stored_before_the_rule(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    old = make_site(make_floor()).model_copy(update={"id": TYPED})
    store.put(site_key(TYPED), old.to_json(), content_type="application/json")
    code, out = run_cli(store, "site", "show", TYPED)
    assert code == 1
    assert f"an older registry is stored under sites/{TYPED}/" in out


def test_the_registry_refuses_a_site_name_that_is_not_stored_form(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ValueError, match="'North-Campus' is not a stored slug"):
        update_site(store, TYPED, lambda site: site)
    with pytest.raises(ValueError, match="'North-Campus' is not a stored slug"):
        load_site(store, TYPED)
    assert list(store.list("")) == []


def test_the_registry_and_links_store_names_lower_case() -> None:
    registry = Site.model_validate({"id": "North-Campus", "buildings": [{"id": "B"}]})
    assert registry.id == "north-campus"
    assert registry.buildings[0].id == "B", "building and floor ids keep their case"
    assert LinkRequest(to="Office").to == "office"


def test_a_sidecar_link_written_in_capitals_meets_its_scene() -> None:
    def entry(scene: str, links: list[LinkRequest]) -> TourEntry:
        base = f"scenes/{STORED}/{scene}/v1"
        return TourEntry(
            scene=scene,
            title=scene,
            version="v1",
            base=base,
            manifest=f"{base}/scene.json",
            thumb=f"{base}/thumb.jpg",
            placement=Placement(),
            links=links,
            viewers={},
            published_at=datetime.now(UTC),
        )

    entries = {
        "hall": entry("hall", [LinkRequest.model_validate({"to": "Office", "kind": "door"})]),
        "office": entry("office", []),
    }
    tour = build_tour(STORED, None, entries, LinkOptions())
    assert {(k.source, k.target, k.kind) for k in tour.links} == {
        ("hall", "office", "door"),
        ("office", "hall", "door"),
    }
