"""The sample panorama publishes exactly as before the house recut (tests/data/golden).

``sample_pano.json`` was recorded with the pre-recut code (its ``recorded_with`` says which
commit): the object keys with the version replaced by ``<version>``, the sha256 of every
object, and the published ``scene.json`` and ``tour.json``. The same capture published by
today's code must give the same keys, byte-identical tiles and previews, and documents that
differ only in timestamps and the version (which changes when its inputs do).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.conftest import DATA, SAMPLE_PANO
from tests.support.pipeline import Harness, folder_candidate, write_folder

GOLDEN = DATA / "golden" / "sample_pano.json"
#: The capture the golden file was recorded from (its recording script used these).
SIDECAR = {
    "site": "golden-campus",
    "scene": "lobby",
    "building": "A",
    "floor": "1",
    "room": "Lobby 1.01",
    "orientation": {"heading_deg": 30.0},
    "points_of_interest": [{"kind": "exit", "label": "Main exit", "yaw_deg": 10, "pitch_deg": -5}],
}
TIMESTAMPS = {"created_at", "updated_at", "published_at"}
#: What changed on purpose since the recording, each named by its issue; nothing else may.
#: Issue 13: per-scene tour entries (the site index is assembled from them) ...
ADDED_KEYS = {
    "sites/golden-campus/tour/adopted",
    "sites/golden-campus/tour/scenes/lobby.json",
}
#: ... and Pannellum configs that render sidecar text as text (escapeHTML at the top level).
ESCAPED = {"escapeHTML": True}
#: Objects compared as documents (they carry timestamps), not byte for byte.
DOCUMENTS = ("/scene.json", "/current.json", "/tour.json")


def _normalised(value: Any, version: str) -> Any:
    """``value`` with timestamps dropped and the version string replaced by ``<version>``."""
    if isinstance(value, dict):
        return {k: _normalised(v, version) for k, v in value.items() if k not in TIMESTAMPS}
    if isinstance(value, list):
        return [_normalised(v, version) for v in value]
    if isinstance(value, str):
        return value.replace(version, "<version>")
    return value


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


@pytest.fixture
def published(settings: Settings, tmp_path: Path) -> tuple[Harness, str]:
    """The golden capture published by today's code with blurring required (the default)."""
    harness = Harness(settings.model_copy(update={"blur": "required"}))
    folder = write_folder(
        tmp_path / "in" / "lobby", {"pano.jpg": SAMPLE_PANO.read_bytes()}, SIDECAR
    )
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    keys, _ = harness.published(capture_id)
    return harness, keys.version


def test_the_sample_publishes_the_same_objects_and_bytes(
    published: tuple[Harness, str], golden: dict[str, Any]
) -> None:
    harness, version = published
    objects = {
        key.replace(version, "<version>"): hashlib.sha256(harness.store.get(key)).hexdigest()
        for key in harness.store.list("")
    }
    assert not [k for k in objects if k.startswith("work/")], "no checkpoint after a publish"
    assert sorted(objects) == sorted(set(golden["objects"]) | ADDED_KEYS)
    differing = [
        key
        for key, digest in objects.items()
        if not key.endswith(DOCUMENTS)
        and key not in ADDED_KEYS
        and digest != golden["objects"][key]
    ]
    assert differing == [], "tiles, previews and originals are byte-identical"


def test_the_sample_publishes_the_same_scene_and_tour(
    published: tuple[Harness, str], golden: dict[str, Any]
) -> None:
    harness, version = published
    scene_key = f"scenes/golden-campus/lobby/{version}/scene.json"
    scene = json.loads(harness.store.get(scene_key))
    tour = json.loads(harness.store.get("sites/golden-campus/tour.json"))
    expected_scene = _normalised(golden["scene"], golden["version"])
    expected_scene["viewers"]["pannellum"] |= ESCAPED
    expected_tour = _normalised(golden["tour"], golden["version"])
    expected_tour["viewers"]["pannellum"] |= ESCAPED
    for entry in expected_tour["scenes"]:
        entry["viewers"]["pannellum"] |= ESCAPED
    assert _normalised(scene, version) == expected_scene
    assert _normalised(tour, version) == expected_tour
