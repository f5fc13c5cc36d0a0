"""The watcher stops taking files when a disk (or Redis) is short of room, and resumes.

Three levels: the gate with a real watcher and a threshold the test moves; ``panodock
run`` with a threshold above any real free space (the pause on the status API, ``panodock
status`` and ``/metrics``); ``panodock run`` on a real, small tmpfs that the test fills and
then empties (root only: if the mount fails the test fails, it is never skipped).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from ingest.candidates import Candidate
from ingest.watcher import InboxWatcher
from tests.conftest import jpeg_bytes
from tests.workers.service_run import Run, wait_for
from workers.service.free_space import (
    IntakeGate,
    disk_pause,
    human_bytes,
    is_misconf,
    redis_pause,
)
from workers.service.redis_server import RedisServer
from workers.state.ledger import State


def test_the_gate_pauses_the_watcher_once_and_resumes_by_itself(
    tmp_path: Path, small_pano_jpeg: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    delivered: list[Candidate] = []
    gate = IntakeGate({"data": tmp_path}, min_free_bytes=2**62, min_free_fraction=0.0)
    watcher = InboxWatcher(
        inbox, delivered.append, settle_seconds=0.2, rescan_seconds=0.3, accepting=gate.is_open
    )
    gate.on_reopen = watcher.scan_now
    caplog.set_level(logging.INFO, logger="workers.service.free_space")
    watcher.start()
    try:
        (inbox / "a.jpg").write_bytes(small_pano_jpeg)
        time.sleep(3.0)  # several rescans and re-checks of the gate
        assert delivered == []
        assert (inbox / "a.jpg").read_bytes() == small_pano_jpeg, "the file is left untouched"
        assert gate.pause is not None and gate.pause.reason == "disk"
        closed = [r for r in caplog.records if "not taking new captures" in r.getMessage()]
        assert len(closed) == 1, "one line when intake pauses, not one per rescan"
        assert f"data disk {tmp_path} has " in closed[0].getMessage()
        gate.min_free_bytes = 0  # space is back
        wait_for(lambda: delivered, 5, "the file after the pause")
        assert [c.root.name for c in delivered] == ["a.jpg"]
        assert gate.pause is None
        assert any("taking new captures again" in r.getMessage() for r in caplog.records)
    finally:
        watcher.stop()


def test_fraction_threshold_and_messages() -> None:
    class Usage:
        def __call__(self, path: Path) -> tuple[int, int, int]:
            return (100 * 10**9, 90 * 10**9, 120 * 10**6)  # 100 GB disk, 120 MB free

    pause = disk_pause(
        {"data": Path("/")}, min_free_bytes=2 * 10**9, min_free_fraction=0.0, usage=Usage()
    )
    assert pause is not None
    assert pause.message == (
        "data disk / has 120 MB free, below 2.0 GB: not taking new captures until space is freed"
    )
    by_fraction = disk_pause(
        {"data": Path("/")}, min_free_bytes=0, min_free_fraction=0.05, usage=Usage()
    )
    assert by_fraction is not None and "below 5.0 GB" in by_fraction.message
    assert (
        disk_pause({"data": Path("/")}, min_free_bytes=0, min_free_fraction=0, usage=Usage())
        is None
    )
    assert human_bytes(999) == "999 B" and human_bytes(2_500_000) == "2.5 MB"


def test_redis_near_maxmemory_pauses(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    client = redis.Redis.from_url(server.start())
    try:
        assert redis_pause(client) is None
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", str(used + 1024))
        pause = redis_pause(client)
        assert pause is not None and pause.reason == "redis" and "maxmemory" in pause.message
    finally:
        client.config_set("maxmemory", "0")
        server.stop()


def _other(jpeg: bytes) -> bytes:
    """Another capture (other content) from the small sample."""
    pano = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return jpeg_bytes(np.roll(pano, 101, axis=1))


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


def _paused(run: Run) -> dict[str, str] | None:
    for health in run.watcher_health():
        if health.get("paused"):
            return health["paused"]  # type: ignore[return-value]
    return None


@pytest.mark.e2e
def test_run_with_no_room_leaves_files_in_the_inbox_and_says_so(
    tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    data = tmp_path / "data"
    full = Run(data, PANODOCK_MIN_FREE_BYTES=str(2**62)).start()
    port = full.env["PANODOCK_SERVE_PORT"]
    try:
        (full.inbox / "kept.jpg").write_bytes(small_pano_jpeg)
        pause = wait_for(lambda: _paused(full), 20, "the watcher to report the pause")
        assert pause["reason"] == "disk"  # type: ignore[index]
        assert "not taking new captures until space is freed" in pause["message"]  # type: ignore[index]
        metrics = wait_for(
            lambda: _try(lambda: _get(f"http://127.0.0.1:{port}/metrics")), 30, "/metrics"
        )
        assert 'panodock_intake_paused{reason="disk"} 1.0' in metrics  # type: ignore[operator]
        assert 'panodock_intake_paused{reason="redis"} 0.0' in metrics  # type: ignore[operator]
        api = json.loads(_get(f"http://127.0.0.1:{port}/api/status"))
        assert any(w.get("paused") for w in api["watchers"]), api["watchers"]
        status = subprocess.run(
            [sys.executable, "-m", "workers.cli.main", "status"],
            env=full.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "INTAKE PAUSED: data disk" in status.stdout, status.stdout
        time.sleep(2.0)
        assert full.ledger().counts()[State.RECEIVED] == 0
        assert sum(full.ledger().counts().values()) == 0, "nothing was taken"
        assert (full.inbox / "kept.jpg").read_bytes() == small_pano_jpeg
    finally:
        assert full.stop() == 0
    # Second phase: room again (a restart with the default threshold takes the file).
    again = Run(data).start()
    try:
        wait_for(lambda: again.published(1), 60, "the kept file once there is room")
    finally:
        assert again.stop() == 0


def _try(read: object) -> object:
    try:
        return read()  # type: ignore[operator]
    except OSError:
        return None


@contextlib.contextmanager
def _tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    mountpoint.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"cannot mount a tmpfs (this test needs root): {done.stderr}"
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.e2e
def test_run_on_a_small_disk_pauses_when_full_and_resumes_when_freed(
    tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    with _tmpfs(tmp_path / "disk", "160m") as disk:
        run = Run(disk / "data", PANODOCK_MIN_FREE_BYTES=str(64 * 2**20)).start()
        try:
            (run.inbox / "first.jpg").write_bytes(small_pano_jpeg)
            wait_for(lambda: run.published(1), 60, "a capture while there is room")
            free = subprocess.run(
                ["df", "-B1", "--output=avail", str(disk)], capture_output=True, text=True
            )
            avail = int(free.stdout.split()[-1])
            filler = disk / "filler"
            with filler.open("wb") as out:  # leave 32 MiB: below the 64 MiB threshold
                out.write(b"\0" * max(0, avail - 32 * 2**20))
            pause = wait_for(lambda: _paused(run), 20, "the pause on a full disk")
            assert "data disk" in pause["message"]  # type: ignore[index]
            (run.inbox / "second.jpg").write_bytes(_other(small_pano_jpeg))
            time.sleep(2.0)
            assert len(run.ledger().in_state(State.PUBLISHED)) == 1
            assert (run.inbox / "second.jpg").exists()
            filler.unlink()
            resumed_at = time.monotonic()
            wait_for(lambda: run.published(2), 60, "the capture once space is freed")
            print(f"\nRESUME after freeing space: published {time.monotonic() - resumed_at:.1f} s")
            assert _paused(run) is None or wait_for(lambda: _paused(run) is None, 10, "unpaused")
            assert run.alive()
        finally:
            assert run.stop() == 0


def test_redis_that_cannot_persist_is_a_pause_with_a_plain_message(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "8m") as disk:
        server = RedisServer(disk / "redis")
        client = redis.Redis.from_url(server.start())
        try:
            free = shutil.disk_usage(disk).free
            (disk / "filler").write_bytes(b"\0" * (free - 4096))

            def refused() -> bool:
                try:
                    client.set("ledger", "x" * 65536)
                except redis.ResponseError as exc:
                    return is_misconf(exc)
                return False

            wait_for(refused, 20, "Redis to refuse writes (MISCONF)")
            pause = redis_pause(client)
            assert pause is not None and pause.reason == "redis"
            assert pause.message.startswith("Redis cannot write its data (disk full?)")
        finally:
            (disk / "filler").unlink(missing_ok=True)
            server.kill()
