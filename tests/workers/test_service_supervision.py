"""``panodock run`` supervises: what dies is restarted, captures get published untouched.

Real processes throughout: the service, its private Redis, dramatiq workers. Each test
prints the restart time it measured (``pytest -s``), for the recovery table.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import InfrastructureError
from tests.conftest import jpeg_bytes
from tests.workers.service_run import Run, pid_alive, replaced, wait_for
from workers.ops.bench import synthetic_equirect
from workers.service.lifetime import PidFile
from workers.service.supervisor import Supervisor
from workers.state.ledger import State

pytestmark = pytest.mark.e2e


def _flipped(jpeg: bytes, n: int) -> bytes:
    """Another capture (other content) from the small sample."""
    pano = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return jpeg_bytes(np.roll(pano, 97 * n, axis=1))


def test_a_sigkilled_worker_is_restarted_and_its_capture_published(tmp_path: Path) -> None:
    run = Run(tmp_path / "data").start()
    try:
        (run.inbox / "hall.jpg").write_bytes(jpeg_bytes(synthetic_equirect(8192)))
        wait_for(
            lambda: any(c.stage == "tiles" for c in run.ledger().in_state(State.PROCESSING)),
            60,
            "the job to reach the tiles stage",
        )
        old = run.roles()["worker 1"]
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        replaced(run, "worker 1", old, 15)
        restarted = time.monotonic() - killed
        wait_for(lambda: run.published(1), 90, "the capture to be published")
        print(
            f"\nRESTART worker: restarted {restarted:.1f} s, "
            f"capture published {time.monotonic() - killed:.1f} s after SIGKILL"
        )
        assert run.alive()
    finally:
        assert run.stop() == 0
    assert not (run.data / "panodock.pid").exists()


def test_a_sigkilled_redis_is_restarted_and_a_later_capture_published(
    tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    run = Run(tmp_path / "data").start()
    try:
        (run.inbox / "first.jpg").write_bytes(small_pano_jpeg)
        wait_for(lambda: run.published(1), 60, "the first capture")
        old = run.roles()["redis"]
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        replaced(run, "redis", old, 15)
        wait_for(run.redis_up, 15, "Redis to answer again")
        restarted = time.monotonic() - killed
        (run.inbox / "second.jpg").write_bytes(_flipped(small_pano_jpeg, 1))
        wait_for(lambda: run.published(2), 60, "the capture dropped after the restart")
        print(
            f"\nRESTART redis: answering {restarted:.1f} s, next capture published "
            f"{time.monotonic() - killed:.1f} s after SIGKILL"
        )
        assert run.alive()
        assert len(run.ledger().in_state(State.PUBLISHED)) == 2, "the AOF kept the first one"
    finally:
        assert run.stop() == 0


def test_a_sigkilled_watcher_is_restarted_and_takes_new_captures(
    tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    run = Run(tmp_path / "data").start()
    try:
        wait_for(run.watcher_health, 30, "the watcher to report")
        old = run.roles()["watcher"]
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        replaced(run, "watcher", old, 15)
        restarted = time.monotonic() - killed
        (run.inbox / "after.jpg").write_bytes(small_pano_jpeg)
        wait_for(lambda: run.published(1), 60, "the capture dropped after the kill")
        print(
            f"\nRESTART watcher: restarted {restarted:.1f} s, capture published "
            f"{time.monotonic() - killed:.1f} s after SIGKILL"
        )
    finally:
        assert run.stop() == 0


def test_after_kill_9_of_the_group_or_the_main_pid_a_new_run_starts_at_once(
    tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    data = tmp_path / "data"
    first = Run(data).start()
    everything = set(first.roles().values())
    first.kill_group()  # the private Redis is in its own session: only its death signal stops it
    killed = time.monotonic()
    second = Run(data).start()
    print(f"\nRESTART kill -9 group: new run ready {time.monotonic() - killed:.1f} s after")
    try:
        assert not [pid for pid in everything if pid_alive(pid)], "a child outlived the kill"
        (second.inbox / "a.jpg").write_bytes(small_pano_jpeg)
        wait_for(lambda: second.published(1), 60, "a capture after the restart")
        everything = set(second.roles().values())
        assert second.process is not None
        os.kill(second.process.pid, signal.SIGKILL)  # the main pid only
        second.process.wait()
        killed = time.monotonic()
        third = Run(data).start()
        print(f"RESTART kill -9 main pid: new run ready {time.monotonic() - killed:.1f} s after")
    except BaseException:
        second.kill_group()
        raise
    try:
        assert not [pid for pid in everything if pid_alive(pid)], "a child outlived its service"
        (third.inbox / "b.jpg").write_bytes(_flipped(small_pano_jpeg, 2))
        wait_for(lambda: third.published(2), 60, "a capture after the second restart")
    finally:
        assert third.stop() == 0


def test_a_second_run_on_the_same_data_dir_is_refused_while_the_first_lives(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path / "data").start()
    try:
        with pytest.raises(InfrastructureError, match="already running"):
            PidFile(run.data).acquire()
        assert run.alive()
    finally:
        assert run.stop() == 0


def test_shutdown_with_two_busy_workers_takes_one_timeout_not_two(tmp_path: Path) -> None:
    timeout = 5.0
    run = Run(
        tmp_path / "data",
        PANODOCK_WORKERS="2",
        PANODOCK_SHUTDOWN_TIMEOUT_SECONDS=str(timeout),
        PANODOCK_JOB_TIME_LIMIT_SECONDS="600",
    ).start()
    for n in range(2):
        (run.inbox / f"big{n}.jpg").write_bytes(jpeg_bytes(synthetic_equirect(12288 + 64 * n)))
    try:
        wait_for(lambda: len(run.ledger().in_state(State.PROCESSING)) == 2, 60, "two running jobs")
    except BaseException:
        run.kill_group()
        raise
    began = time.monotonic()
    run.stop()
    took = time.monotonic() - began
    print(f"\nSHUTDOWN with two busy workers: {took:.1f} s (timeout {timeout:.0f} s)")
    # One timeout and the processes' own exit; stopping them one by one takes two and more.
    assert took < 1.5 * timeout + 2.5, f"stopping took {took:.1f} s: workers stopped one by one"


def test_a_crash_looping_process_makes_the_supervisor_give_up(tmp_path: Path) -> None:
    pidfile = PidFile(tmp_path)
    pidfile.acquire()
    # An invalid setting: the child exits with code 2 at once, every time.
    env = {**os.environ, "PANODOCK_WORKERS": "not a number"}
    supervisor = Supervisor(
        env=env,
        pidfile=pidfile,
        redis=None,
        restart_limit=3,
        restart_window_seconds=60,
        shutdown_timeout_seconds=5,
    )
    supervisor.add("worker 1", ["worker"])
    began = time.monotonic()
    try:
        with pytest.raises(InfrastructureError, match="worker 1 died 3 times"):
            supervisor.run(threading.Event())
    finally:
        supervisor.stop()
        pidfile.release()
    # 1 s then 2 s between the deaths: backoff, not a busy loop.
    assert 3.0 <= time.monotonic() - began < 20
