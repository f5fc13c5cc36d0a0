"""`panodock site add-floor|show` and `panodock place` against a real local store."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest

from config.settings import Settings
from tests.sites.conftest import SITE, plan_latlon, plan_png
from tests.workers.helpers import Harness, folder_candidate, write_folder
from workers.cli.site import add_site_commands, run_site_command
from workers.contract.keys import current_key, tour_key
from workers.contract.scene import CurrentPointer
from workers.sites.registry import load_site
from workers.sites.tour import Tour
from workers.store.local import LocalStore

SPOTS = [(100, 100), (1100, 120), (1080, 700), (150, 690), (600, 380), (400, 600)]
NORTH = 20.0


def _run(store: LocalStore, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="panodock")
    add_site_commands(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = run_site_command(parser.parse_args(list(argv)), None, store, out=out)
    return code, out.getvalue()


def _gcps(seed: int, outlier: int | None = None) -> list[str]:
    rng = np.random.default_rng(seed)
    args = []
    for i, (x, y) in enumerate(SPOTS):
        lat, lon = plan_latlon(x, y, NORTH)
        nx, ny = np.array([x, y]) + rng.normal(0, 2.0, 2) + (40.0 if i == outlier else 0.0)
        args += ["--gcp", f"p{i}={nx:.2f},{ny:.2f},{lat:.9f},{lon:.9f}"]
    return args


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "floor1.png"
    path.write_bytes(plan_png())
    return path


def _add_floor(store: LocalStore, plan: Path, *extra: str) -> tuple[int, str]:
    return _run(
        store,
        *("site", "add-floor", SITE, "1", "--plan", str(plan), "--scale", "20", "--north"),
        str(NORTH),
        *extra,
    )


def test_add_floor_prints_residuals_and_saves(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    code, out = _add_floor(store, plan_file, *_gcps(3), "--max-loo-m", "0.5")
    assert code == 0, out
    for i in range(len(SPOTS)):
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
    code, out = _run(store, "site", "show", SITE)
    assert code == 0 and "main/1" in out and "similarity fit on 6 points" in out


def test_overfitting_homography_is_refused(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    code, out = _add_floor(
        store, plan_file, *_gcps(3), "--max-loo-m", "0.5", "--model", "homography"
    )
    assert code == 1 and "refused" in out and "nothing saved" in out
    assert load_site(store, SITE) is None


def test_an_outlier_is_named_and_nothing_saved(tmp_path: Path, plan_file: Path) -> None:
    store = LocalStore(tmp_path / "store")
    code, out = _add_floor(store, plan_file, *_gcps(1, outlier=4))
    assert code == 1
    assert "worst point p4" in out
    assert load_site(store, SITE) is None and not list(store.list("sites/"))


def test_impossible_control_point_is_refused(
    tmp_path: Path, plan_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(tmp_path / "store")
    gcps = _gcps(0)
    gcps[1] = "p0=100,100,213.6,-122.3"
    code, _ = _add_floor(store, plan_file, *gcps)
    assert code == 1 and "lat" in capsys.readouterr().err
    code, _ = _add_floor(store, plan_file, "--gcp", "p9=5000,100,47.6,-122.3", *_gcps(0)[2:])
    assert code == 1 and "outside the 1200x800 plan" in capsys.readouterr().err


def test_place_by_hand_rewrites_only_the_tour(
    settings: Settings, tmp_path: Path, plan_file: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    store = harness.store
    assert _add_floor(store, plan_file, *_gcps(3), "--max-loo-m", "0.5")[0] == 0
    folder = write_folder(
        tmp_path / "lobby", {"pano.jpg": small_pano_jpeg}, {"site": SITE, "scene": "lobby"}
    )
    harness.ingest(folder_candidate(folder))
    harness.drain()
    pointer = CurrentPointer.model_validate_json(store.get(current_key(SITE, "lobby")))
    before = {k: store.head(k) for k in store.list("scenes/")}

    code, out = _run(store, "place", SITE, "lobby", "--plan", "300", "200", "--heading", "110")
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

    code, _ = _run(store, "place", SITE, "lobby", "--plan", "5000", "200")
    assert code == 1
    code, _ = _run(store, "place", SITE, "nowhere", "--plan", "1", "1")
    assert code == 1
