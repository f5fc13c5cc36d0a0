"""End to end: a site with one floor plan and 6 captures -> tour.json.

Two captures give plan positions, one local metres, one GPS in its sidecar, one GPS only
in EXIF, one nothing: 5 placed, 1 needing placement, links both ways, POIs, and every key
the three viewer configs reference exists in the store.

The captures go through the real pipeline in-process (tests/support/pipeline.Harness), whose
last stage updates tour.json through workers.sites.tour_update.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pyvips

from config.settings import Settings
from tests.sites.conftest import PLAN_H, SCALE, SITE, make_floor, make_site, plan_latlon, plan_png
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.keys import tour_key
from workers.contract.tour import Tour
from workers.sites.registry import update_site
from workers.state.ledger import State


def _dms(value: float) -> str:
    seconds = Fraction(round(abs(value) * 3600 * 1000), 1000)
    degrees, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(degrees)}/1 {int(minutes)}/1 {secs.numerator}/{secs.denominator}"


def _with_exif_gps(jpeg: bytes, lat: float, lon: float) -> bytes:
    image = pyvips.Image.new_from_buffer(jpeg, "").copy()
    fields = {
        "exif-ifd3-GPSLatitudeRef": "N" if lat >= 0 else "S",
        "exif-ifd3-GPSLatitude": _dms(lat),
        "exif-ifd3-GPSLongitudeRef": "E" if lon >= 0 else "W",
        "exif-ifd3-GPSLongitude": _dms(lon),
    }
    for key, value in fields.items():
        image.set_type(pyvips.GValue.gstr_type, key, value)
    data: bytes = image.jpegsave_buffer(Q=90)
    return data


def _tile_keys(tour: Tour) -> set[str]:
    """Every object key the viewer configs point at, templates expanded."""
    keys = {f.plan.key for f in tour.floors}
    for scene in tour.viewers["pannellum"]["scenes"].values():
        mr = scene["multiRes"]
        for level in range(1, mr["maxLevel"] + 1):
            size = mr["cubeResolution"] // 2 ** (mr["maxLevel"] - level)
            count = math.ceil(size / mr["tileResolution"])
            for face in "fblrud":
                for y in range(count):
                    for x in range(count):
                        path = mr["path"].replace("%l", str(level)).replace("%s", face)
                        path = path.replace("%y", str(y)).replace("%x", str(x))
                        keys.add(f"{mr['basePath']}{path}.{mr['extension']}")
    for scene in tour.viewers["marzipano"]["scenes"]:
        keys.add(scene["cubeMapPreviewUrl"])
        for z, level in enumerate(scene["levels"]):
            if level.get("fallbackOnly"):
                continue
            count = level["size"] // level["tileSize"]
            for face in "fblrud":
                for y in range(count):
                    for x in range(count):
                        keys.add(
                            scene["urlTemplate"].format(z=z, f=face, y=y, x=x),
                        )
    for node in tour.viewers["photo_sphere_viewer"]["nodes"]:
        keys.add(node["thumbnail"])
        pano = node["panorama"]
        for index, level in enumerate(pano["levels"]):
            for face in pano["faces"].values():
                for row in range(level["nbTiles"]):
                    for col in range(level["nbTiles"]):
                        keys.add(
                            pano["tileUrlTemplate"].format(
                                level=index + pano["levelOffset"], face=face, row=row, col=col
                            )
                        )
    return keys


def _capture(harness: Harness, tmp_path: Path, scene: str, jpeg: bytes, **sidecar: Any) -> str:
    folder = write_folder(
        tmp_path / scene,
        {"pano.jpg": jpeg},
        {"site": SITE, "scene": scene, "floor": "1", **sidecar},
    )
    return harness.ingest(folder_candidate(folder))


def test_six_captures_make_a_tour(settings: Settings, tmp_path: Path, pano: np.ndarray) -> None:
    harness = Harness(settings)
    store = harness.store
    floor = make_floor()
    update_site(store, SITE, lambda _: make_site(floor))
    store.put(floor.plan.key, plan_png(), content_type="image/png")

    rng = np.random.default_rng(5)
    small = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)

    def jpeg() -> bytes:
        # Each capture must differ, or intake treats them as one.
        img = small.copy()
        img[:4, :4] = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        return buf.tobytes()

    north = {"heading_deg": 0.0}
    exit_sign = {"yaw_deg": -30, "pitch_deg": -5, "kind": "exit", "label": "Exit"}
    lat, lon = plan_latlon(500, 400)
    exif_lat, exif_lon = plan_latlon(400, 300)
    ids = [
        _capture(
            harness,
            tmp_path,
            "hall-west",
            jpeg(),
            position={"frame": "plan", "x": 300, "y": 400},
            orientation=north,
            points_of_interest=[exit_sign],
            links=[{"to": "office", "kind": "door", "label": "Office"}],
        ),
        _capture(
            harness,
            tmp_path,
            "hall-mid",
            jpeg(),
            position={"frame": "plan", "x": 400, "y": 400},
            orientation=north,
        ),
        _capture(
            harness,
            tmp_path,
            "hall-east",
            jpeg(),
            position={"frame": "wgs84", "lat": lat, "lon": lon, "accuracy_m": 2.0},
            orientation={"heading_deg": 270.0},
        ),
        _capture(harness, tmp_path, "office", _with_exif_gps(jpeg(), exif_lat, exif_lon)),
        _capture(
            harness,
            tmp_path,
            "store-room",
            jpeg(),
            position={"frame": "local", "x_m": 300 / SCALE, "y_m": (PLAN_H - 300) / SCALE},
        ),
        _capture(harness, tmp_path, "mystery", jpeg()),
    ]
    harness.drain()
    for capture_id in ids:
        capture = harness.app.ledger.get(capture_id)
        assert capture.state == State.PUBLISHED, capture.reason

    tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    assert tour.schema_ == "panodock.tour/1"
    positions = {s.scene: s.position for s in tour.scenes}
    assert {name: p.source for name, p in positions.items()} == {
        "hall-west": "plan",
        "hall-mid": "plan",
        "hall-east": "gps",
        "office": "gps",
        "store-room": "local",
        "mystery": "none",
    }
    assert tour.needs_placement == ["mystery"]
    assert (positions["hall-east"].x, positions["hall-east"].y) == pytest.approx((500, 400), abs=1)
    assert (positions["office"].x, positions["office"].y) == pytest.approx((400, 300), abs=1)
    assert (positions["store-room"].x, positions["store-room"].y) == pytest.approx((300, 300))

    pairs = {(k.source, k.target): k for k in tour.links}
    assert pairs, "placed scenes 5 m apart must be linked"
    assert all((t, s) in pairs for s, t in pairs), "every link goes both ways"
    assert pairs[("hall-west", "hall-mid")].yaw_deg == pytest.approx(90.0)  # east, facing north
    # hall-east faces west (heading 270): hall-mid, due west, is dead ahead.
    assert pairs[("hall-east", "hall-mid")].yaw_deg == pytest.approx(0.0, abs=0.5)
    assert pairs[("hall-west", "office")].kind == "door"
    assert not [k for k in pairs if "mystery" in k]

    assert [(p.scene, p.kind, p.label) for p in tour.points_of_interest] == [
        ("hall-west", "exit", "Exit")
    ]
    scene_json = store.get(next(s.manifest for s in tour.scenes if s.scene == "hall-west"))
    assert b'"exit"' in scene_json, "POIs are carried into scene.json too"

    # Positions are published on the plan; the captures' own GPS is not.
    published = store.get(tour_key(SITE)) + scene_json
    assert f"{lat:.6f}".encode() not in published and f"{exif_lat:.6f}".encode() not in published

    missing = sorted(k for k in _tile_keys(tour) if not store.exists(k))
    assert missing == []
    referenced = {tour.floors[0].plan.key} | {s.thumb for s in tour.scenes}
    assert all(store.exists(k) for k in referenced)
