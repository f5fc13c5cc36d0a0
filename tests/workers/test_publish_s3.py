"""Publishing through a real S3 server: contract, races, ordering, an outage mid-publish."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import StoreError
from config.settings import Settings
from tests.conftest import jpeg_bytes, s3_settings_for
from tests.support.pipeline import Harness, file_candidate, folder_candidate, write_folder
from tests.support.seaweed import SeaweedS3
from workers.contract.keys import SceneKeys
from workers.pipeline.render import iter_tile_keys
from workers.pipeline.runner import Pipeline
from workers.sites.registry import set_visibility
from workers.state.ledger import State
from workers.store.factory import make_store


def test_publish_through_s3_and_read_back_every_tile(
    s3_settings: Settings, seaweed: SeaweedS3, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(s3_settings)
    harness.store.bootstrap()
    (tmp_path / "lobby.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "lobby.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PUBLISHED, capture.reason
    pointer, manifest = harness.live(capture.site, capture.scene)
    keys = SceneKeys(capture.site, capture.scene, pointer.version)
    set_visibility(harness.store, capture.site, "public")  # private by default (issue 14)
    public = f"http://{seaweed.endpoint}/{s3_settings.s3_bucket}"
    for key, side in iter_tile_keys(keys, manifest.tiles):
        with urllib.request.urlopen(f"{public}/{key}", timeout=5) as r:  # noqa: S310 - anonymous, like a viewer
            tile = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
        assert tile.shape == (side, side, 3), key


def test_two_workers_racing_on_one_scene_leave_one_consistent_version(
    s3_settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(s3_settings)
    harness.store.bootstrap()
    (tmp_path / "gym.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "gym.jpg"))
    # Two worker processes got the same message (at-least-once): each has its own client.
    pipelines = [
        Pipeline(
            s3_settings,
            store=make_store(s3_settings),
            ledger=harness.app.ledger,
            inputs=harness.app.pipeline.inputs,
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(p: Pipeline) -> None:
        barrier.wait()
        try:
            p.process(capture_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in pipelines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    capture = harness.app.ledger.get(capture_id)
    assert [e.state for e in harness.app.ledger.history(capture_id)].count(State.PUBLISHED) == 1
    pointer, manifest = harness.live(capture.site, capture.scene)
    keys = SceneKeys(capture.site, capture.scene, pointer.version)
    versions = {
        k.split("/")[3] for k in harness.store.list(f"scenes/{capture.site}/{capture.scene}/")
    }
    assert versions == {pointer.version, "current.json"}
    assert all(harness.store.exists(k) for k, _ in iter_tile_keys(keys, manifest.tiles))


def test_an_older_capture_finishing_last_does_not_take_the_pointer_back(
    s3_settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, pano: np.ndarray
) -> None:
    harness = Harness(s3_settings)
    harness.store.bootstrap()
    sidecar = {"scene": "hall", "site": "campus"}
    older = write_folder(tmp_path / "take1", {"pano.jpg": small_pano_jpeg}, sidecar)
    reshoot = jpeg_bytes(cv2.resize(cv2.flip(pano, 1), (1024, 512)))
    newer = write_folder(tmp_path / "take2", {"pano.jpg": reshoot}, sidecar)
    first = harness.ingest(folder_candidate(older))
    time.sleep(0.01)
    second = harness.ingest(folder_candidate(newer))
    harness.queued.clear()
    harness.app._process_capture(second)  # the re-shoot is processed first...
    harness.app._process_capture(first)  # ...and the older capture finishes later
    pointer, _ = harness.live("campus", "hall")
    assert pointer.capture_id == second
    assert "stays live" in (harness.app.ledger.history(first)[-1].detail or "")


def test_s3_down_mid_publish_then_back_publishes_with_nothing_half_visible(
    settings: Settings, tmp_path: Path, pano: np.ndarray
) -> None:
    server = SeaweedS3(tmp_path / "s3")
    server.start()
    s3 = s3_settings_for(settings, server, bucket="outage")
    harness = Harness(s3)
    harness.store.bootstrap()
    (tmp_path / "hall.jpg").write_bytes(jpeg_bytes(cv2.resize(pano, (4096, 2048))))
    capture_id = harness.ingest(file_candidate(tmp_path / "hall.jpg"))
    harness.queued.clear()

    def stop_when_tiling() -> None:
        deadline = time.monotonic() + 60
        while harness.app.ledger.get(capture_id).stage != "tiles" and time.monotonic() < deadline:
            time.sleep(0.005)
        server.stop()

    stopper = threading.Thread(target=stop_when_tiling)
    stopper.start()
    try:
        with pytest.raises(StoreError):
            harness.app._process_capture(capture_id)  # dramatiq would retry this job
        stopper.join()
        assert harness.app.ledger.get(capture_id).state == State.PROCESSING
        server.start()
        capture = harness.app.ledger.get(capture_id)
        assert not harness.store.exists(SceneKeys(capture.site, capture.scene, "").current)
        harness.app._process_capture(capture_id)  # the retry, S3 back
        capture = harness.app.ledger.get(capture_id)
        assert capture.state == State.PUBLISHED
        pointer, manifest = harness.live(capture.site, capture.scene)
        keys = SceneKeys(capture.site, capture.scene, pointer.version)
        assert all(harness.store.exists(k) for k, _ in iter_tile_keys(keys, manifest.tiles))
    finally:
        server.stop()
