"""The sample panorama publishes exactly as recorded in tests/data/golden.

``sample_pano.json`` holds what the sample capture published when it was last recorded
(``python -m tests.support.golden --because ...``; its ``recorded_with`` names the commit
and the changes that were meant): the object keys with the version replaced by
``<version>``, the sha256 of every object, and the published ``scene.json`` and
``tour.json``. The same capture published by today's code must give the same keys,
byte-identical tiles and previews, and documents that differ only in timestamps and the
version (which changes when its inputs do). A change that is meant to alter any of it is
recorded again, and says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.support.golden import GOLDEN, publish, snapshot
from tests.support.pipeline import Harness

TIMESTAMPS = {"created_at", "updated_at", "published_at", "held_at"}
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
def published(settings: Settings, tmp_path: Path) -> tuple[Harness, dict[str, Any]]:
    """The golden capture published by today's code with blurring required (the default)."""
    harness, version = publish(settings, tmp_path)
    return harness, snapshot(harness, version)


def test_the_sample_publishes_the_same_objects_and_bytes(
    published: tuple[Harness, dict[str, Any]], golden: dict[str, Any]
) -> None:
    _, today = published
    objects = today["objects"]
    assert not [k for k in objects if k.startswith("work/")], "no checkpoint after a publish"
    assert sorted(objects) == sorted(golden["objects"])
    differing = [
        key
        for key, digest in objects.items()
        if not key.endswith(DOCUMENTS)
        and "/tour/scenes/" not in key  # per-scene tour entries carry timestamps too
        and digest != golden["objects"][key]
    ]
    assert differing == [], "tiles, previews and originals are byte-identical"


def test_the_sample_publishes_the_same_scene_and_tour(
    published: tuple[Harness, dict[str, Any]], golden: dict[str, Any]
) -> None:
    _, today = published
    for document in ("scene", "tour"):
        assert _normalised(today[document], today["version"]) == _normalised(
            golden[document], golden["version"]
        ), f"{document}.json differs from the recording"
