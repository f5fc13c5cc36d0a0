"""End to end from a running service: ``panodock run`` publishes, ``panodock export`` exports.

Real processes all the way: the floor is registered with ``panodock site add-floor`` (its
control points through the CLI), ``panodock run`` (its own Redis, a worker, the watcher) takes
the two capture folders dropped into its inbox, and ``panodock export`` is run as a separate
process on the same data directory. The three products are then read with the libraries a
responder's tools would use: geojson-pydantic, pypdf, zipfile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from geojson_pydantic import FeatureCollection
from pypdf import PdfReader

from tests.export.site_builder import NORTH, capture_folders
from tests.sites.conftest import SITE, gcp_args, plan_png
from tests.workers.service_run import Run, wait_for
from workers.contract.keys import tour_key
from workers.contract.tour import Tour
from workers.store.local import LocalStore

pytestmark = pytest.mark.e2e


def _panodock(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"panodock {' '.join(args)}: {done.stderr}"
    return done.stdout


def _tour_has(store: LocalStore, scenes: int) -> bool:
    try:
        tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    except Exception:  # noqa: BLE001 - not written yet, or being replaced
        return False
    return len(tour.scenes) >= scenes


def test_a_running_service_then_export_gives_the_three_products(
    tmp_path: Path, pano: np.ndarray, viewers_cache: Path
) -> None:
    data = tmp_path / "panodock-data"
    data.mkdir()
    (data / "web").symlink_to(viewers_cache)  # the pinned viewers, installed once per session
    run = Run(data)
    plan = tmp_path / "plan.png"
    plan.write_bytes(plan_png())
    # The control points of the synthetic floor (2 px noise), north 30° off plan-up.
    _panodock(
        run.env, "site", "add-floor", SITE, "1", "--plan", str(plan), "--scale", "20",
        "--north", str(NORTH), *gcp_args(NORTH, seed=5),
    )  # fmt: skip
    staged = capture_folders(tmp_path / "staging", pano)
    run.start()
    try:
        run.inbox.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for folder in staged:
            shutil.move(folder, run.inbox / folder.name)
        wait_for(lambda: run.published(2), 120, "two published captures")
        store = LocalStore(data / "store")
        wait_for(lambda: _tour_has(store, 2), 30, "both scenes in tour.json")
        published = time.perf_counter() - started
    finally:
        assert run.stop() == 0

    out = tmp_path / "export"
    started = time.perf_counter()
    printed = _panodock(run.env, "export", SITE, "--out", str(out))
    exported = time.perf_counter() - started
    assert "campus.geojson" in printed and "offline/ (" in printed

    collection = FeatureCollection.model_validate_json((out / f"{SITE}.geojson").read_text())
    props = [f.properties or {} for f in collection.features]
    assert {"floor", "scene", "fire_extinguisher", "exterior_door", "aed"} <= {
        p["kind"] for p in props
    }
    fe = next(p for p in props if p.get("id") == "fe-1")
    assert fe["position_source"] == "triangulated" and fe["grid"] == "D2"
    assert fe["accuracy_m"] < 2.0
    raw = json.loads((out / f"{SITE}.geojson").read_text())
    assert [u["kind"] for u in raw["unplaced"]] == ["other"], "the bike rack is kept"

    text = "\n".join(p.extract_text() for p in PdfReader(out / "maps" / "main-1.pdf").pages)
    for label in ("FE 1 by room 101", "Door 4", "AED <b>gym</b>", "Bikes", "Hall West"):
        assert label in text, label
    assert "Not verified by a walkthrough yet" in text
    assert (out / "maps" / "main-1.png").stat().st_size > 10_000

    with zipfile.ZipFile(out / f"{SITE}-offline.zip") as zf:
        names = set(zf.namelist())
    for name in ("index.html", "data.js", "vendor/pannellum.js", "scenes/hall-west.html",
                 "scenes/hall-east.js", "plans/main-1.png"):  # fmt: skip
        assert f"{SITE}-offline/{name}" in names, name
        assert (out / "offline" / name).is_file(), name
    sizes = {
        "geojson": (out / f"{SITE}.geojson").stat().st_size,
        "pdf": (out / "maps" / "main-1.pdf").stat().st_size,
        "png": (out / "maps" / "main-1.png").stat().st_size,
        "offline": sum(p.stat().st_size for p in (out / "offline").rglob("*") if p.is_file()),
        "zip": (out / f"{SITE}-offline.zip").stat().st_size,
    }
    print(
        f"service published 2 captures in {published:.1f} s; export process {exported:.1f} s; "
        + ", ".join(f"{k} {v / 1e3:.1f} kB" for k, v in sizes.items())
    )
