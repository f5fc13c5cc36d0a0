"""End to end with real processes: `panodock run`, real Redis, real dramatiq workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings, settings_env
from ingest.intake import Intake
from tests.conftest import jpeg_bytes
from tests.support.pipeline import file_candidate
from workers.ops.bench import synthetic_equirect
from workers.queue.actors import App
from workers.queue.broker import redis_client
from workers.service.redis_server import RedisServer, free_port
from workers.state.ledger import Ledger, State
from workers.store.factory import make_store

pytestmark = pytest.mark.e2e


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return bytes(response.read())
    except OSError:
        return None


def panodock(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_run_on_embedded_defaults_publishes_dropped_captures(
    tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    data = tmp_path / "panodock-data"
    env = {
        **os.environ,
        "PANODOCK_DATA_DIR": str(data),
        "PANODOCK_WORKERS": "2",
        "PANODOCK_SETTLE_SECONDS": "0.3",
        "PANODOCK_RESCAN_SECONDS": "1",
        "PANODOCK_SERVE_PORT": str(free_port()),
    }
    env.pop("PANODOCK_REDIS_URL", None)
    status_url = f"http://127.0.0.1:{env['PANODOCK_SERVE_PORT']}/api/status"
    (data / "inbox").mkdir(parents=True)
    # Dropped while the service is down: the start-up rescan must take it.
    (data / "inbox" / "before.jpg").write_bytes(small_pano_jpeg)
    service = subprocess.Popen([sys.executable, "-m", "workers.cli.main", "run"], env=env)
    try:
        pointers = data / "store" / "scenes" / "default"
        wait_for(lambda: list(pointers.glob("before-*/current.json")), 60, "first scene")
        pano = cv2.imdecode(np.frombuffer(small_pano_jpeg, np.uint8), cv2.IMREAD_COLOR)
        (data / "inbox" / "after.jpg").write_bytes(jpeg_bytes(cv2.flip(pano, 1)))
        current = wait_for(lambda: list(pointers.glob("after-*/current.json")), 60, "second scene")
        pointer = json.loads(current[0].read_text())  # type: ignore[index]
        assert (data / "store" / pointer["manifest"]).is_file()
        schemas = data / "store" / "schemas"
        assert {"scene.schema.json", "tour.schema.json"} <= {p.name for p in schemas.iterdir()}

        status = panodock("status", env=env)
        assert status.returncode == 0, status.stderr
        assert "published 2" in status.stdout, status.stdout
        served = json.loads(wait_for(lambda: _get(status_url), 30, "the status service"))  # type: ignore[arg-type]
        assert served["captures"]["published"] == 2 and served["queue"]["workers_alive"] == 2
        history = panodock("status", pointer["capture_id"][:10], env=env)
        assert history.returncode == 0, history.stderr
        for word in ("received", "archived", "queued", "processing/tiles", "published"):
            assert word in history.stdout, history.stdout
    finally:
        service.send_signal(signal.SIGINT)
        code = service.wait(60)
    assert code == 0
    assert not (data / "redis.sock").exists(), "private Redis stopped with the service"
    # Redis kept the ledger on disk (AOF): a restart still knows both captures.
    assert (data / "appendonlydir").exists() or (data / "panodock.aof").exists()


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "workers.cli.main", "worker"], env=env)


def test_sigkilled_worker_mid_job_still_publishes_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, **settings_env(settings)}
    app = App(settings, settings.redis_url or "")
    intake = Intake(
        store=make_store(settings), ledger=app.ledger, enqueue=app.enqueue, default_site="default"
    )
    big = tmp_path / "hall.jpg"
    big.write_bytes(jpeg_bytes(synthetic_equirect(8192)))
    first = _worker(env)
    second = None
    try:
        capture_id = intake(file_candidate(big))
        wait_for(
            lambda: app.ledger.get(capture_id).stage in ("tiles", "previews"),
            60,
            "the job to reach the tiles stage",
        )
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        second = _worker(env)
        wait_for(lambda: app.ledger.get(capture_id).state == State.PUBLISHED, 90, "publication")
        print(f"redelivered and published {time.monotonic() - killed_at:.1f} s after SIGKILL")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    history = app.ledger.history(capture_id)
    states = [(e.state, e.stage) for e in history]
    assert [s for s, _ in states].count(State.PUBLISHED) == 1
    assert states.count((State.PROCESSING, "metadata")) == 2, "the job ran twice"
    capture = app.ledger.get(capture_id)
    store = make_store(settings)
    pointer = json.loads(store.get(f"scenes/{capture.site}/{capture.scene}/current.json"))
    assert pointer["version"] == capture.version
    versions = {k.split("/")[3] for k in store.list(f"scenes/{capture.site}/{capture.scene}/")}
    assert versions == {capture.version, "current.json"}


def test_ctrl_c_mid_job_lets_it_finish_and_strands_nothing(tmp_path: Path) -> None:
    data = tmp_path / "panodock-data"
    env = {
        **os.environ,
        "PANODOCK_DATA_DIR": str(data),
        "PANODOCK_WORKERS": "1",
        "PANODOCK_SERVE_PORT": str(free_port()),
    }
    env.pop("PANODOCK_REDIS_URL", None)
    service = subprocess.Popen([sys.executable, "-m", "workers.cli.main", "run"], env=env)
    try:
        sock = data / "redis.sock"
        wait_for(lambda: sock.exists() and (data / "inbox").is_dir(), 60, "the service")
        (data / "inbox" / "gym.jpg").write_bytes(jpeg_bytes(synthetic_equirect(8192)))
        ledger = Ledger(client=redis_client(f"unix://{sock}"))
        wait_for(
            lambda: any(c.stage == "tiles" for c in ledger.in_state(State.PROCESSING)),
            60,
            "a job in the tiles stage",
        )
    finally:
        service.send_signal(signal.SIGINT)
        assert service.wait(90) == 0
    # Look at what the stopped service left in its (persisted) Redis.
    server = RedisServer(data)
    client = redis_client(server.start())
    try:
        ledger = Ledger(client=client)
        published = ledger.in_state(State.PUBLISHED)
        assert len(published) == 1, ledger.counts()
        assert client.llen("dramatiq:captures") == 0
        held = [k for k in client.scan_iter("dramatiq:__acks__.*") if client.scard(k)]
        assert held == [], "no message is left held by a stopped worker"
    finally:
        server.stop()
