"""Record tests/data/golden/sample_pano.json: what the sample panorama publishes today.

The golden file guards against changes nobody meant: tests/workers/test_golden.py
publishes the same capture and compares keys, bytes and documents with it. When a change
is meant to alter what is published (new scene.json fields, different tile bytes), record
again and name the change in ``--because``; the file's ``recorded_with`` keeps the note::

    python -m tests.support.golden --because "issue 16: cubic tiles; issue 18: checks"

It starts its own private Redis, as the tests do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from config.settings import Settings, load_settings
from tests.conftest import DATA, SAMPLE_PANO
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.service.redis_server import RedisServer, free_port

GOLDEN = DATA / "golden" / "sample_pano.json"
#: The capture the golden file is recorded from.
SIDECAR: dict[str, Any] = {
    "site": "golden-campus",
    "scene": "lobby",
    "building": "A",
    "floor": "1",
    "room": "Lobby 1.01",
    "orientation": {"heading_deg": 30.0},
    "points_of_interest": [{"kind": "exit", "label": "Main exit", "yaw_deg": 10, "pitch_deg": -5}],
}


def publish(settings: Settings, work: Path) -> tuple[Harness, str]:
    """Publish the golden capture with blurring required; the harness and the version."""
    harness = Harness(settings.model_copy(update={"blur": "required"}))
    folder = write_folder(work / "in" / "lobby", {"pano.jpg": SAMPLE_PANO.read_bytes()}, SIDECAR)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    keys, _ = harness.published(capture_id)
    return harness, keys.version


def snapshot(harness: Harness, version: str) -> dict[str, Any]:
    """Keys (version as ``<version>``) with sha256, and the scene and tour documents."""
    objects = {
        key.replace(version, "<version>"): hashlib.sha256(harness.store.get(key)).hexdigest()
        for key in sorted(harness.store.list(""))
    }
    scene = json.loads(harness.store.get(f"scenes/golden-campus/lobby/{version}/scene.json"))
    tour = json.loads(harness.store.get("sites/golden-campus/tour.json"))
    return {"objects": objects, "scene": scene, "tour": tour, "version": version}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--because", required=True, help="the intended changes since the last")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", port=free_port())
        server.start()
        try:
            settings = load_settings(data_dir=Path(tmp) / "data", redis_url=server.url)
            harness, version = publish(settings, Path(tmp))
            record = snapshot(harness, version)
        finally:
            server.stop()
    record["recorded_with"] = (
        f"on top of commit {commit or 'unknown'}: the sample panorama as folder capture "
        f"'lobby' of site 'golden-campus', blur required; changes meant since the previous "
        f"recording: {args.because}"
    )
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({len(record['objects'])} objects, version {version})")


if __name__ == "__main__":
    main()
