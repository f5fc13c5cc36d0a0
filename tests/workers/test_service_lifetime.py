"""The pidfile of ``panodock run``: leftovers of a crashed run are stopped, nothing else is."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from workers.service.lifetime import PidFile, die_with_parent, start_time
from workers.service.redis_server import RedisServer


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_crashed_runs_leftovers_are_stopped_and_a_reused_pid_is_spared(tmp_path: Path) -> None:
    leftover, stranger = _sleeper(), _sleeper()
    try:
        (tmp_path / "panodock.pid").write_text(
            json.dumps(
                {
                    "service": {"pid": 999_999_999, "start": 1},  # long gone
                    "children": [
                        {
                            "pid": leftover.pid,
                            "role": "worker 1",
                            "start": start_time(leftover.pid),
                        },
                        # Same pid as recorded, but a process started later: not ours.
                        {"pid": stranger.pid, "role": "watcher", "start": 12},
                    ],
                }
            )
        )
        pidfile = PidFile(tmp_path)
        stopped = pidfile.acquire()
        try:
            assert [e["pid"] for e in stopped] == [leftover.pid]
            assert leftover.wait(5) == -signal.SIGTERM
            assert stranger.poll() is None, "an unrelated process with a reused pid was killed"
            body = json.loads((tmp_path / "panodock.pid").read_text())
            assert body["children"] == [] and body["service"]["pid"] != 999_999_999
        finally:
            pidfile.release()
        assert not (tmp_path / "panodock.pid").exists()
    finally:
        for proc in (leftover, stranger):
            proc.kill()
            proc.wait()


def test_a_child_dies_with_its_parent_even_by_sigkill(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    # A parent that starts a child with the death signal, then waits to be killed.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, subprocess, sys, time\n"
            "from workers.service.lifetime import die_with_parent\n"
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
            " preexec_fn=die_with_parent(signal.SIGKILL))\n"
            f"open({str(marker)!r}, 'w').write(str(c.pid))\n"
            "time.sleep(60)\n",
        ]
    )
    try:
        for _ in range(200):
            if marker.exists() and marker.read_text():
                break
            time.sleep(0.05)
        child = int(marker.read_text())
        assert start_time(child) is not None
        parent.kill()
        parent.wait()
        for _ in range(100):
            if start_time(child) is None:
                break
            time.sleep(0.05)
        assert start_time(child) is None, "the child outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait()
    assert die_with_parent(signal.SIGTERM) is not None


def test_a_leftover_private_redis_is_shut_down_not_refused(tmp_path: Path) -> None:
    leftover = RedisServer(tmp_path)
    leftover.start()
    assert leftover.process is not None
    try:
        assert RedisServer(tmp_path).stop_leftover()
        assert leftover.process.wait(10) == 0, "a clean SHUTDOWN (the AOF is flushed)"
        server = RedisServer(tmp_path)
        server.start()
        server.stop()
    finally:
        leftover.kill()
