"""Operations: garbage collection, dead letters, stage time limits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dramatiq
import pytest

from config.errors import StageTimeout
from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from workers.queue.broker import QUEUE
from workers.queue.deadletters import dead_jobs, requeue_dead
from workers.queue.stage_limits import StageClock
from workers.state.ledger import State
from workers.store.gc import collect
from workers.store.local import LocalStore


def test_gc_keeps_the_live_and_the_recent_versions(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for version in ("old", "live", "fresh"):
        store.put(f"scenes/s/hall/{version}/tiles/1/f/0/0.jpg", b"tile")
        store.put(f"scenes/s/hall/{version}/scene.json", b"{}")
    store.put(
        "scenes/s/hall/current.json",
        b'{"schema": "panodock.current/1", "site": "s", "scene": "hall", "version": "live",'
        b' "manifest": "scenes/s/hall/live/scene.json", "capture_id": "c",'
        b' "capture_received_at": "2026-01-01T00:00:00Z", "published_at": "2026-01-01T00:00:00Z"}',
    )
    now = time.time()
    for key in store.list("scenes/s/hall/old/"):
        os.utime(store.root / key, (now - 7200, now - 7200))
    dry = collect(store, grace_seconds=3600, now=now)
    assert [(v.version, v.objects, v.deleted) for v in dry] == [("old", 2, False)]
    assert store.exists("scenes/s/hall/old/scene.json"), "a dry run deletes nothing"
    done = collect(store, grace_seconds=3600, apply=True, now=now)
    assert [v.version for v in done] == ["old"]
    assert not list(store.list("scenes/s/hall/old/"))
    assert store.exists("scenes/s/hall/live/scene.json")
    assert store.exists("scenes/s/hall/fresh/scene.json"), "inside the grace period"


def test_jobs_out_of_retries_are_dead_lettered_failed_and_requeueable(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings.model_copy(update={"max_retries": 0}))
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    harness.queued.clear()
    harness.store.inject_faults(1000)  # the store is down for good
    broker = harness.app.broker
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        harness.app.enqueue(capture_id)
        deadline = time.monotonic() + 30
        while harness.app.ledger.get(capture_id).state != State.FAILED:
            assert time.monotonic() < deadline, harness.app.ledger.history(capture_id)
            time.sleep(0.1)
        capture = harness.app.ledger.get(capture_id)
        assert "gave up after 0 attempts" in (capture.reason or "")
        assert "injected transient failure" in (capture.reason or "")
        dead = dead_jobs(broker.client, QUEUE)
        assert [(j.actor, j.args) for j in dead] == [("process_capture", (capture_id,))]

        harness.store.inject_faults(0)  # the store is back
        assert len(requeue_dead(broker, QUEUE)) == 1
        assert dead_jobs(broker.client, QUEUE) == []
        deadline = time.monotonic() + 30
        while harness.app.ledger.get(capture_id).state != State.PUBLISHED:
            assert time.monotonic() < deadline, harness.app.ledger.history(capture_id)
            time.sleep(0.1)
    finally:
        worker.stop()


def test_a_stage_past_its_limit_fails_naming_the_stage() -> None:
    clock = StageClock({"tiles": 0.3}, default=60, tick=0.05)
    finished: list[bool] = []

    def job() -> None:
        clock.enter("metadata")
        clock.enter("tiles")
        end = time.monotonic() + 5
        while time.monotonic() < end:  # Python-level work: interruptible
            sum(range(1000))
        finished.append(True)

    with pytest.raises(StageTimeout, match="stage tiles ran past its time limit of 0.3 s"):
        clock.run(job)
    assert not finished, "the stage was interrupted, not run to its end"
    clock.run(lambda: clock.enter("metadata"))  # a quick job is untouched
