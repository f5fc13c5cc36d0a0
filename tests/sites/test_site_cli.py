"""`panodock site add-floor|show` and `panodock place` against a real local store."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from tests.sites.conftest import GCP_SPOTS, SITE, gcp_args, run_cli
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.keys import current_key, tour_key
from workers.contract.scene import CurrentPointer
from workers.contract.tour import Tour
from workers.sites.registry import load_site
from workers.store.local import LocalStore

NORTH = 20.0


def _add_floor(store: LocalStore, plan: Path, *extra: str) -> tuple[int, str]:
    return run_cli(
        store,
        *("site", "add-floor", SITE, "1", "--plan", str(plan), "--scale", "20", "--north"),
        str(NORTH),
        *extra,
    )


def test_add_floor_prints_residuals_and_saves(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    code, out = _add_floor(store, plan_file, *gcp_args(NORTH, 3), "--max-loo-m", "0.5")
    assert code == 0, out
    for i in range(len(GCP_SPOTS)):
        assert f"  p{i} " in out
    assert "leave-one-out RMS" in out and "worst point" in out
    site = load_site(store, SITE)
    assert site is not None
    floor = site.floor("main/1")
    assert floor is not None and floor.fit is not None
    assert floor.fit.north_offset_deg == pytest.approx(NORTH, abs=1.0)
    assert floor.fit.loo_rms_px < 10.0
    assert store.get(floor.plan.key) == plan_file.read_bytes()
    assert (floor.plan.width, floor.plan.height) == (1200, 800)
    code, out = run_cli(store, "site", "show", SITE)
    assert code == 0 and "main/1" in out and "similarity fit on 6 points" in out


def test_overfitting_homography_is_refused(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    code, out = _add_floor(
        store, plan_file, *gcp_args(NORTH, 3), "--max-loo-m", "0.5", "--model", "homography"
    )
    assert code == 1 and "refused" in out and "nothing saved" in out
    assert load_site(store, SITE) is None


def test_an_outlier_is_named_and_nothing_saved(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    code, out = _add_floor(store, plan_file, *gcp_args(NORTH, 1, outlier=4))
    assert code == 1
    assert "worst point p4" in out
    assert load_site(store, SITE) is None and not list(store.list("sites/"))


def test_impossible_control_point_is_refused(
    tmp_path: Path, plan_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(tmp_path / "store")
    gcps = gcp_args(NORTH, 0)
    gcps[1] = "p0=100,100,213.6,-122.3"
    code, _ = _add_floor(store, plan_file, *gcps)
    assert code == 1 and "lat" in capsys.readouterr().err
    code, _ = _add_floor(
        store, plan_file, "--gcp", "p9=5000,100,47.6,-122.3", *gcp_args(NORTH, 0)[2:]
    )
    assert code == 1 and "outside the 1200x800 plan" in capsys.readouterr().err


def test_place_by_hand_rewrites_only_the_tour(
    settings: Settings, tmp_path: Path, plan_file: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    store = harness.store
    assert _add_floor(store, plan_file, *gcp_args(NORTH, 3), "--max-loo-m", "0.5")[0] == 0
    folder = write_folder(
        tmp_path / "lobby", {"pano.jpg": small_pano_jpeg}, {"site": SITE, "scene": "lobby"}
    )
    harness.ingest(folder_candidate(folder))
    harness.drain()
    pointer = CurrentPointer.model_validate_json(store.get(current_key(SITE, "lobby")))
    before = {k: store.head(k) for k in store.list("scenes/")}

    code, out = run_cli(store, "place", SITE, "lobby", "--plan", "300", "200", "--heading", "110")
    assert code == 0, out
    after = {k: store.head(k) for k in store.list("scenes/")}
    assert after == before, "a scene version is immutable: tiles and scene.json stay"
    assert pointer.manifest in after
    tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    assert tour.needs_placement == []
    scene = tour.scenes[0]
    assert (scene.position.source, scene.position.x, scene.position.y) == ("manual", 300, 200)
    # --heading is on the plan; the compass heading subtracts the plan's north offset.
    assert scene.heading_source == "manual"
    assert scene.heading_deg == pytest.approx(110 - NORTH)
    assert scene.viewers["pannellum"]["northOffset"] == pytest.approx(110 - NORTH)

    code, _ = run_cli(store, "place", SITE, "lobby", "--plan", "5000", "200")
    assert code == 1
    code, _ = run_cli(store, "place", SITE, "nowhere", "--plan", "1", "1")
    assert code == 1
