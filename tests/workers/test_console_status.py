"""What ``panodock status``, ``GET /api/status`` and the console say beside the queue.

Folders without capture.json waiting for quiet, the last hour with failed and quarantined
apart, failures a later capture superseded, thumbnails, the favicon, ``site show``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import SecretStr

from config.settings import Settings
from ingest.watcher import InboxWatcher
from tests.sites.conftest import run_cli
from tests.support.pipeline import Harness, file_candidate, folder_candidate, write_folder
from tests.support.waiting import wait_for
from tests.workers.review_support import api_client
from workers.cli.captures import status as status_command
from workers.ops.status import activity, publish_watcher_health
from workers.state.ledger import State

TOKEN = "status-token-0123456789-0123456789-012"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAITING = re.compile(r"waiting for capture\.json, or (\d+) s more of quiet")
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings.model_copy(update={"serve_token": SecretStr(TOKEN)}))


def _cli_status(harness: Harness, capsys: pytest.CaptureFixture[str]) -> str:
    settings = harness.settings
    assert status_command(settings, settings.redis_url or "", harness.app.ledger, None) == 0
    return capsys.readouterr().out


def test_a_folder_without_capture_json_is_listed_as_pending_then_taken_and_published(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = 2.0
    watcher = InboxWatcher(tmp_path / "inbox", harness.intake, settle_seconds=0.2,
                           folder_settle_seconds=quiet, rescan_seconds=0.2)  # fmt: skip
    client = api_client(harness)
    watcher.start()
    try:
        folder = watcher.inbox / "room-214"
        folder.mkdir()
        (folder / "IMG_0001.JPG").write_bytes(small_pano_jpeg)
        wait_for(lambda: watcher.health().waiting != (), 2.0)
        # What the service process does every few seconds (workers.service.processes).
        publish_watcher_health(harness.app.ledger.client, "inbox", asdict(watcher.health()),
                               ttl_seconds=15)  # fmt: skip
        pending = client.get("/api/status", headers=AUTH).json()["pending_folders"]
        assert [(p["folder"], p["files"]) for p in pending] == [("room-214", 1)]
        left = WAITING.fullmatch(pending[0]["message"])
        assert left and 0 <= int(left.group(1)) <= quiet
        out = _cli_status(harness, capsys)
        assert "inbox folders without capture.json:" in out
        assert re.search(r"room-214  1 file\(s\)  waiting for capture\.json, or \d s more", out)
        assert harness.queued == []

        wait_for(lambda: len(harness.queued) == 1, quiet + 3.0)
    finally:
        watcher.stop()
    capture_id = harness.queued[0]
    harness.drain()
    keys, manifest = harness.published(capture_id)
    assert keys.scene.startswith("room-214")
    assert any("no capture.json: taken after 2 s of quiet" in (e.detail or "")
               for e in harness.app.ledger.history(capture_id))  # fmt: skip


def test_the_last_hour_counts_failed_and_quarantined_apart(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.jpg").write_bytes(small_pano_jpeg)
    harness.ingest(file_candidate(tmp_path / "ok.jpg"))
    for i in range(3):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg" + bytes([i]))
        harness.ingest(file_candidate(tmp_path / f"bad{i}.jpg"))
    harness.drain()
    recent = activity(harness.app.ledger, now=datetime.now(UTC))
    assert (recent.published, recent.failed, recent.quarantined) == (1, 0, 3)
    assert recent.error_rate == pytest.approx(0.75)
    out = _cli_status(harness, capsys)
    assert "last hour 1 published, 0 failed, 3 quarantined" in out
    assert "error rate (failed + quarantined) 75.0 %" in out
    body = api_client(harness).get("/api/status", headers=AUTH).json()
    assert (body["activity"]["failed"], body["activity"]["quarantined"]) == (0, 3)
    assert body["captures"]["failed"] == 0 and body["captures"]["quarantined"] == 3


def test_a_failure_superseded_by_a_later_capture_of_its_folder_says_so(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    folder = write_folder(tmp_path / "library", {"pano.jpg": small_pano_jpeg}, b'{"scene": 3')
    broken = harness.ingest(folder_candidate(folder))
    (tmp_path / "other.jpg").write_bytes(b"\xff\xd8 broken")
    other = harness.ingest(file_candidate(tmp_path / "other.jpg"))
    harness.drain()
    assert harness.app.ledger.get(broken).state == State.QUARANTINED
    client = api_client(harness)
    rows = {r["id"]: r for r in client.get("/api/status", headers=AUTH).json()["recent_failures"]}
    assert rows[broken]["superseded_by"] is None

    time.sleep(0.01)  # a later capture
    (folder / "capture.json").write_text(json.dumps({"scene": "library"}))
    fixed = harness.ingest(folder_candidate(folder))
    harness.drain()
    assert fixed != broken and harness.app.ledger.get(fixed).state == State.PUBLISHED
    rows = {r["id"]: r for r in client.get("/api/status", headers=AUTH).json()["recent_failures"]}
    superseded = rows[broken]["superseded_by"]
    assert superseded["id"] == fixed and superseded["state"] == "published"
    assert superseded["message"] == (
        f"superseded by capture {fixed[:12]} of the same folder (published, default/library)"
    )
    assert rows[other]["superseded_by"] is None

    # Thumbnails: the quarantined capture's from its original, none for a non-image.
    thumb = client.get(f"/api/captures/{broken}/thumb.jpg", headers=AUTH)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[1] == 320 and img.shape[0] == 160
    assert client.get(f"/api/captures/{other}/thumb.jpg", headers=AUTH).status_code == 404
    assert client.get(f"/api/captures/{broken}/thumb.jpg").status_code == 401
    scenes = client.get("/api/status", headers=AUTH).json()["scenes"]
    capture = harness.app.ledger.get(fixed)
    assert scenes == [{"site": "default", "scene": "library",
                       "thumb": f"scenes/default/library/{capture.version}/thumb.jpg"}]  # fmt: skip
    assert client.get(f"/objects/{scenes[0]['thumb']}", headers=AUTH).status_code == 200


def test_the_favicon_is_served_to_anyone(harness: Harness) -> None:
    client = api_client(harness)
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00", "an ICO file"


def test_site_show_for_scenes_without_a_floor_plan_shows_them(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    (tmp_path / "gym.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "gym.jpg"))
    harness.drain()
    scene = harness.app.ledger.get(capture_id).scene
    code, out = run_cli(harness.store, "site", "show", "default")
    assert code == 0, out
    assert "site default: no floor plan registered, so its scenes are not on a map" in out
    assert "tour: 1 scenes, 0 placed" in out and scene in out and "NEEDS PLACEMENT" in out
    code, out = run_cli(harness.store, "site", "show", "nowhere")
    assert code == 1 and "has no registry and no published scene" in out
