"""End to end: two captures with typed POIs through the pipeline -> ``panodock export``.

The captures are published by the real pipeline (Redis, the local store); the export runs
as the CLI command does, and the three products are checked: the GeoJSON validates with
geojson-pydantic and its points lie inside the floor's footprint, the PDF's text holds every
label, the verification line and the documents, and the offline bundle holds each scene,
the viewer and the documents. The extinguisher both scenes see is triangulated through the
whole pipeline (sidecar yaw, heading, the floor's north offset) to within 0.5 m.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from geojson_pydantic import FeatureCollection, Point, Polygon
from pypdf import PdfReader

from config.settings import Settings
from tests.export.site_builder import DOCUMENTS, FE_TRUE, publish_site
from tests.export.test_geojson import _inside
from tests.sites.conftest import SCALE, SITE
from workers.cli.main import _parser
from workers.contract.keys import tour_entry_key, tour_key
from workers.contract.tour import Tour


def _cli(settings: Settings, *argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(args._panodock_command.run(args, settings))


def test_two_captures_to_three_products(
    settings: Settings,
    tmp_path: Path,
    pano: np.ndarray,
    viewers_cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness = publish_site(settings, tmp_path / "captures", pano)
    (settings.data_dir / "web").symlink_to(viewers_cache)
    assert (
        _cli(
            settings,
            "poi",
            "add",
            SITE,
            "--floor",
            "1",
            "--plan",
            "150",
            "700",
            "--kind",
            "trauma_kit",
            "--label",
            "Bleed kit B",
        )
        == 0
    )
    assert (
        _cli(
            settings,
            "site",
            "verify",
            SITE,
            "--floor",
            "main/1",
            "--by",
            "J. Ortiz",
            "--date",
            "2026-09-01",
            "--note",
            "annual walkthrough",
        )
        == 0
    )
    out = tmp_path / "export"
    started = time.perf_counter()
    assert _cli(settings, "export", SITE, "--out", str(out)) == 0
    elapsed = time.perf_counter() - started
    printed = capsys.readouterr().out
    assert "campus.geojson" in printed and "offline/" in printed
    assert "note: point hall-east-2: kind 'bike_rack' is not in the" in printed
    assert "1 point(s) of interest not on the maps" in printed

    collection = FeatureCollection.model_validate_json((out / f"{SITE}.geojson").read_text())
    props = [f.properties or {} for f in collection.features]
    kinds = sorted({p["kind"] for p in props})
    assert {"floor", "scene", "fire_extinguisher", "exterior_door", "aed", "trauma_kit"} <= set(
        kinds
    )
    (floor,) = [f for f in collection.features if (f.properties or {})["kind"] == "floor"]
    assert isinstance(floor.geometry, Polygon)
    ring = np.array(floor.geometry.coordinates[0])
    points = [f for f in collection.features if isinstance(f.geometry, Point)]
    assert len(points) == 2 + 4  # two scenes; FE, door, AED, bleed kit (not the bikes)
    for feature in points:
        assert _inside(ring, *feature.geometry.coordinates[:2]), feature.properties
    fe = next(p for p in props if p.get("id") == "fe-1")
    assert fe["position_source"] == "triangulated" and fe["grid"] == "D2"
    tour = Tour.model_validate_json(harness.store.get(tour_key(SITE)))
    placed = next(p for p in tour.pois if p.id == "fe-1").position
    assert placed.x is not None and placed.y is not None
    error_m = math.hypot(placed.x - FE_TRUE[0], placed.y - FE_TRUE[1]) / SCALE
    assert error_m < 0.5, f"triangulated {error_m:.2f} m from the true spot"
    assert {s["scene"] for s in fe["scenes"]} == {"hall-west", "hall-east"}
    raw = json.loads((out / f"{SITE}.geojson").read_text())
    assert [u["kind"] for u in raw["unplaced"]] == ["other"]  # the bike rack: seen once

    aed = next(p for p in props if p.get("id") == "aed-1")
    assert [a["title"] for a in aed["attachments"]] == ["AED cabinet"]
    assert aed["attachments"][0]["content_type"] == "image/png"
    west = next(p for p in props if p.get("scene") == "hall-west")
    assert west["notes"] == "Gym doors chained after 6 pm"
    (doc,) = west["attachments"]
    assert doc["title"] == "Evacuation plan, wing B" and doc["content_type"] == "application/pdf"
    assert (out / doc["href"]).read_bytes() == DOCUMENTS["evac.pdf"], "copied into the bundle"
    assert (out / aed["attachments"][0]["href"]).read_bytes() == DOCUMENTS["cabinet.png"]
    entry = json.loads(harness.store.get(tour_entry_key(SITE, "hall-west")))
    assert any("plan.docx" in n and "not a PDF or an image" in n for n in entry["attachment_notes"])
    sha = hashlib.sha256(DOCUMENTS["evac.pdf"]).hexdigest()
    assert harness.store.get(f"sites/{SITE}/attachments/{sha}/evac.pdf") == DOCUMENTS["evac.pdf"]

    text = "\n".join(page.extract_text() for page in PdfReader(out / "maps" / "main-1.pdf").pages)
    for label in (
        "FE 1 by room 101",
        "Door 4",
        "AED <b>gym</b>",
        "Bleed kit B",
        "Bikes",
        "Document: AED cabinet",
    ):
        assert label in text
    assert "Last verified 2026-09-01 by J. Ortiz (annual walkthrough)" in text
    assert (out / "maps" / "main-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bundle = out / "offline"
    for name in (
        "index.html",
        "data.js",
        "vendor/pannellum.js",
        "scenes/hall-west.html",
        "scenes/hall-east.js",
        "plans/main-1.png",
    ):
        assert (bundle / name).is_file(), name
    with zipfile.ZipFile(out / f"{SITE}-offline.zip") as zf:
        assert f"{SITE}-offline/index.html" in zf.namelist()
    sizes = {p.name: p.stat().st_size for p in out.rglob("*") if p.is_file()}
    print(f"export of the test site: {elapsed:.2f} s; bundle {sum(sizes.values()) / 1e6:.2f} MB")
