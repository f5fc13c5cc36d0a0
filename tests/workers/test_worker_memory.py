"""A worker gives its memory back: the heap after each job, the caches once idle."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workers.queue.memory import IdleRelease

#: Runs one 8K job in a fresh interpreter, as a worker process would, and reports its RSS.
CHILD = r"""
import json, sys, time
from pathlib import Path
import cv2
from config.settings import load_settings
from tests.conftest import SAMPLE_PANO
from tests.support.pipeline import Harness, file_candidate

def rss_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

redis_url, work = sys.argv[1], Path(sys.argv[2])
big = cv2.resize(cv2.imread(str(SAMPLE_PANO)), (8192, 4096), interpolation=cv2.INTER_CUBIC)
cv2.imwrite(str(work / "big.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
del big
settings = load_settings(
    data_dir=work / "data", redis_url=redis_url, blur="required",
    worker_idle_release_seconds=1.0,
)
harness = Harness(settings)
capture = harness.ingest(file_candidate(work / "big.jpg"))
harness.drain()
harness.published(capture)
after_job = rss_mb()
deadline = time.monotonic() + 30
while harness.app.idle.releases == 0 and time.monotonic() < deadline:
    time.sleep(0.1)
print(json.dumps({"after_job": after_job, "idle": rss_mb(), "releases": harness.app.idle.releases}))
"""


def test_an_idle_worker_gives_back_memory_after_an_8k_job(
    redis_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, redis_url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    assert rss["releases"] == 1, "the caches were dropped once the worker was idle"
    # Issue 16's target is 300 MB; the new face search keeps about 500 MB (README, Known
    # gaps). What holds today: the release gives back at least 100 MB of the job's peak.
    assert rss["idle"] < rss["after_job"] - 100, rss


def test_the_release_waits_until_no_job_has_run_for_the_idle_time() -> None:
    released = threading.Event()
    idle = IdleRelease(released.set, idle_seconds=0.3)
    with idle.job():
        pass
    started = time.monotonic()
    with idle.job():  # a second job inside the idle window postpones the release
        assert not released.wait(0.4)
    assert released.wait(2.0)
    assert time.monotonic() - started >= 0.3 + 0.4 - 0.05


def test_a_failing_release_does_not_stop_the_next_one() -> None:
    calls: list[int] = []

    def release() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cache gone")

    idle = IdleRelease(release, idle_seconds=0.0)
    for _ in range(2):
        with idle.job():
            pass
        deadline = time.monotonic() + 2
        while idle.releases < len(calls) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
    assert len(calls) == 2


def test_idle_seconds_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="idle_seconds"):
        IdleRelease(lambda: None, idle_seconds=-1)
