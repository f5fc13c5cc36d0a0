"""A published test site for the export tests: one floor, two captures naming typed POIs.

The floor is the synthetic plan of tests/sites (1200x800 px, 20 px/m) with north 30° off
plan-up, registered with a control-point fit (a rotated, reflected similarity). Two captures
go through the real pipeline (tests/support/pipeline.Harness) with sidecars whose points of
interest are: a fire extinguisher both scenes see (``fe-1``, triangulated; its true spot is
:data:`FE_TRUE`), an exterior door with a plan position, an AED with a WGS84 position and a
kind the catalogue does not know. hall-west's folder also holds documents: a PDF about the
scene, a photo of the AED and a Word file (refused: not a PDF or an image).
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import cv2
import numpy as np
from reportlab.pdfgen.canvas import Canvas

from config.settings import Settings
from tests.sites.conftest import SITE, make_floor, make_site, plan_latlon, plan_png
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.sites.registry import update_site
from workers.state.ledger import State
from workers.store.base import ObjectStore

NORTH = 30.0


def _pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, "Evacuation plan, wing B")
    canvas.save()
    return buffer.getvalue()


def _png() -> bytes:
    ok, buf = cv2.imencode(".png", np.full((40, 60, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


#: Files of hall-west's folder named as attachments: a PDF, an image, a Word file (refused).
DOCUMENTS = {"evac.pdf": _pdf(), "cabinet.png": _png(), "plan.docx": b"PK\x03\x04 not a PDF"}
FE_TRUE = (700.0, 300.0)
AED_TRUE = (250.0, 650.0)
SCENES = {"hall-west": (400.0, 500.0, 10.0), "hall-east": (900.0, 600.0, 200.0)}


def yaw_to(scene: str, target: tuple[float, float]) -> float:
    """The yaw (panorama frame, + right) at which ``scene`` sees a plan spot."""
    x, y, heading = SCENES[scene]
    plan = math.degrees(math.atan2(target[0] - x, -(target[1] - y)))
    return (plan - NORTH - heading + 180.0) % 360.0 - 180.0


def register_floor(store: ObjectStore) -> None:
    """The site's registry (one floor with a fit, north 30° off plan-up) and its plan image."""
    floor = make_floor(north_deg=NORTH)
    update_site(store, SITE, lambda _: make_site(floor).model_copy(update={"name": "Campus High"}))
    store.put(floor.plan.key, plan_png(), content_type="image/png")


def capture_folders(root: Path, pano: np.ndarray) -> list[Path]:
    """The two capture folders (panorama, documents, sidecar written last) under ``root``."""
    small = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(19)
    aed_lat, aed_lon = plan_latlon(*AED_TRUE, NORTH)
    folders = []
    for name, (x, y, heading) in SCENES.items():
        img = small.copy()
        img[:4, :4] = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        pois = [
            {
                "id": "fe-1",
                "kind": "fire_extinguisher",
                "label": "FE 1 by room 101",
                "yaw_deg": yaw_to(name, FE_TRUE),
                "pitch_deg": -10.0,
            },
        ]
        if name == "hall-west":
            pois += [
                {
                    "kind": "exterior_door",
                    "label": "Door 4",
                    "number": "4",
                    "yaw_deg": 20.0,
                    "pitch_deg": 0.0,
                    "position": {"frame": "plan", "x": 1000.0, "y": 60.0},
                },
                {
                    "id": "aed-1",
                    "kind": "aed",
                    "label": "AED <b>gym</b>",
                    "yaw_deg": -60.0,
                    "pitch_deg": 0.0,
                    "position": {
                        "frame": "wgs84",
                        "lat": aed_lat,
                        "lon": aed_lon,
                        "accuracy_m": 1.0,
                    },
                },
            ]
        else:
            pois.append({"kind": "bike_rack", "label": "Bikes", "yaw_deg": 5.0, "pitch_deg": 0.0})
        files = {"pano.jpg": buf.tobytes()}
        extra: dict[str, object] = {}
        if name == "hall-west":
            files |= DOCUMENTS
            pois[2]["attachments"] = [
                {"file": "cabinet.png", "title": "AED cabinet"},
                {"file": "plan.docx", "title": "Word plan"},
            ]
            extra = {
                "files": [
                    {"name": n, "sha256": hashlib.sha256(d).hexdigest(),
                     "role": "equirect" if n == "pano.jpg" else "attachment"}
                    for n, d in files.items()
                ],
                "attachments": [{"file": "evac.pdf", "title": "Evacuation plan, wing B"}],
                "notes": "Gym doors chained after 6 pm",
            }  # fmt: skip
        folders.append(
            write_folder(
                root / name,
                files,
                extra
                | {
                    "site": SITE,
                    "scene": name,
                    "floor": "1",
                    "room": name.replace("-", " ").title(),
                    "position": {"frame": "plan", "x": x, "y": y},
                    "orientation": {"heading_deg": heading},
                    "points_of_interest": pois,
                },
            )
        )
    return folders


def publish_site(settings: Settings, tmp_path: Path, pano: np.ndarray) -> Harness:
    """Register the floor and publish the two captures in process; returns the harness."""
    harness = Harness(settings)
    register_floor(harness.store)
    ids = [harness.ingest(folder_candidate(f)) for f in capture_folders(tmp_path, pano)]
    harness.drain()
    for capture_id in ids:
        capture = harness.app.ledger.get(capture_id)
        assert capture.state == State.PUBLISHED, capture.reason
    return harness
