"""Production shape: processes that share no disk, real Redis, real S3 (SeaweedFS)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings, settings_env
from ingest.intake import Intake
from tests.conftest import jpeg_bytes
from tests.support.pipeline import file_candidate
from tests.workers.test_service import wait_for
from workers.ops.bench import synthetic_equirect
from workers.queue.actors import App
from workers.state.ledger import State
from workers.store.factory import make_store

pytestmark = pytest.mark.e2e


def _spawn(command: str, settings: Settings, data_dir: Path) -> subprocess.Popen[bytes]:
    own = settings.model_copy(update={"data_dir": data_dir, "inbox": None, "store_dir": None})
    env = {**os.environ, **settings_env(own)}
    return subprocess.Popen([sys.executable, "-m", "workers.cli.main", command], env=env)


def _runner_pid(app: App, capture_id: str) -> int:
    """The pid of the worker that last started processing a capture (from its history)."""
    detail = next(
        e.detail for e in reversed(app.ledger.history(capture_id)) if e.stage == "metadata"
    )
    return int((detail or "").rsplit(" pid ", 1)[1])


def _stop(*procs: subprocess.Popen[bytes] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        if proc is not None:
            proc.wait(60)


def test_two_workers_and_a_watcher_sharing_no_disk_process_a_batch(
    s3_settings: Settings, tmp_path: Path, pano: np.ndarray
) -> None:
    hosts = {name: tmp_path / name for name in ("watcher-host", "worker-a", "worker-b")}
    for path in hosts.values():
        path.mkdir()
    app = App(s3_settings, s3_settings.redis_url or "")
    procs = [
        _spawn("worker", s3_settings, hosts["worker-a"]),
        _spawn("worker", s3_settings, hosts["worker-b"]),
    ]
    watcher = _spawn("watch", s3_settings, hosts["watcher-host"])
    try:
        inbox = hosts["watcher-host"] / "inbox"
        wait_for(inbox.is_dir, 30, "the watcher's inbox")
        small = cv2.resize(pano, (2048, 1024), interpolation=cv2.INTER_AREA)
        for n in range(8):
            (inbox / f"room-{n}.jpg").write_bytes(jpeg_bytes(np.roll(small, n * 97, axis=1)))
        wait_for(lambda: app.ledger.counts()[State.PUBLISHED] == 8, 120, "8 published scenes")
    finally:
        _stop(watcher, *procs)
    ran_on = {_runner_pid(app, c.id) for c in app.ledger.in_state(State.PUBLISHED)}
    assert ran_on == {p.pid for p in procs}, "both workers took part, and nothing else did"
    store = make_store(s3_settings)
    assert sum(1 for k in store.list("scenes/") if k.endswith("/current.json")) == 8
    for name in ("worker-a", "worker-b"):
        assert not any(p.is_file() for p in hosts[name].rglob("*")), f"{name} wrote to disk"


def test_sigkilled_worker_with_default_heartbeat_is_redelivered_within_30s(
    s3_settings: Settings, tmp_path: Path
) -> None:
    s3_settings = s3_settings.model_copy(update={"heartbeat_seconds": 10.0})  # the default
    make_store(s3_settings).bootstrap()
    app = App(s3_settings, s3_settings.redis_url or "")
    intake = Intake(
        store=make_store(s3_settings), ledger=app.ledger, enqueue=app.enqueue, default_site="s"
    )
    big = tmp_path / "hall.jpg"
    big.write_bytes(jpeg_bytes(synthetic_equirect(8192)))
    first = _spawn("worker", s3_settings, tmp_path / "a")
    second = _spawn("worker", s3_settings, tmp_path / "b")  # idle, alive, polling
    try:
        wait_for(lambda: len(app.ledger.client.keys("panodock:worker:*")) == 2, 30, "workers")
        capture_id = intake(file_candidate(big))
        wait_for(lambda: app.ledger.get(capture_id).stage == "tiles", 60, "tiling")
        runner = next(
            e.detail for e in reversed(app.ledger.history(capture_id)) if e.stage == "metadata"
        )
        victim, survivor = (
            (first, second) if runner.endswith(f"pid {first.pid}") else (second, first)
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed = time.monotonic()
        wait_for(
            lambda: [e.stage for e in app.ledger.history(capture_id)].count("metadata") == 2,
            60,
            "redelivery",
        )
        delay = time.monotonic() - killed
        print(f"\nredelivered {delay:.1f} s after SIGKILL (heartbeat 10 s)")
        wait_for(lambda: app.ledger.get(capture_id).state == State.PUBLISHED, 60, "publication")
    finally:
        _stop(first, second)
    assert delay < 30, f"redelivery took {delay:.1f} s"
    states = [e.state for e in app.ledger.history(capture_id)]
    assert states.count(State.PUBLISHED) == 1
    assert _runner_pid(app, capture_id) == survivor.pid, "the redelivered job ran on the survivor"


def test_the_watch_process_runs_configured_sources_and_reports_their_health(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    from config.settings import SourceConfig
    from workers.ops.status import watcher_health

    share = tmp_path / "share"
    share.mkdir()
    nas = SourceConfig(
        name="nas", kind="share", path=share, stable_seconds=0.5, require_mount=False,
        site="north-campus",
    )  # fmt: skip
    configured = settings.model_copy(update={"sources": [nas]})
    app = App(configured, configured.redis_url or "")
    watcher = _spawn("watch", configured, tmp_path / "watch-host")
    try:
        (share / "R0010001.JPG").write_bytes(small_pano_jpeg)
        wait_for(lambda: app.ledger.counts()[State.QUEUED] == 1, 60, "the share's capture")
        capture = app.ledger.in_state(State.QUEUED)[0]
        assert capture.site == "north-campus", "the source's site default"
        health = wait_for(
            lambda: [h for h in watcher_health(app.ledger.client) if h["name"] == "source:nas"],
            30,
            "the source's health report",
        )
        assert health[0]["online"] is True and health[0]["files_imported"] == 1  # type: ignore[index]
    finally:
        _stop(watcher)
