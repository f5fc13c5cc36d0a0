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


def test_an_idle_worker_gives_back_memory_after_an_8k_job(redis_url: str, tmp_path: Path) -> None:
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
    # Issue 16's target: an idle worker is back at 300 MB or less after an 8K job with
    # blurring (measured 241-257 MB: the loaded code, libraries and face model; ~310 MB
    # right after the job, with the maps and the detector's buffers kept for the next).
    assert rss["idle"] <= IDLE_BUDGET_MB, rss
    assert rss["idle"] < rss["after_job"] - 30, rss


#: Issue 16: a worker returns to this within a minute of any job (the idle release runs
#: PANODOCK_WORKER_IDLE_RELEASE_SECONDS after the last job, 30 s by default).
IDLE_BUDGET_MB = 300

#: What the tiles stage may add to a worker holding an 8K equirect: the maps it builds and
#: keeps (f's and u's left halves and the chroma of f, u and d: 66 MB), one half face
#: being rendered (a polar half's 2x window is 21 MB), the face, its levels and the tiles
#: in flight. Measured +134 MB on a quiet machine and up to +216 MB while other tests run
#: (freed blocks stay in the heaps of whichever threads freed them); it was +348 MB with
#: six faces' whole maps kept and every face alive until the end of the stage.
TILES_BUDGET_MB = 260

#: Publishes the tiles of an 8K equirect in a fresh interpreter; reports its RSS before
#: and its peak (VmHWM: the equirect's own making peaks lower than the tiles stage; not
#: ru_maxrss, which keeps the forking parent's resident size across the exec).
TILES_CHILD = r"""
import ctypes, json, sys
from pathlib import Path
import cv2
from tests.conftest import SAMPLE_PANO
from tiling.cube import CubeProjector
from tiling.pyramid import choose_layout
from workers.contract.keys import SceneKeys
from workers.pipeline.render import render_tiles
from workers.store.local import LocalStore

def rss_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

small = cv2.imread(str(SAMPLE_PANO))
big = cv2.resize(small, (8192, 4096), interpolation=cv2.INTER_CUBIC)
del small
ctypes.CDLL(None).malloc_trim(0)
before = rss_mb()
projector = CubeProjector()
tiles = render_tiles(
    big, store=LocalStore(Path(sys.argv[1])), keys=SceneKeys("s", "x", "v1"),
    layout=choose_layout(8192), projector=projector, rotation=None, quality=85,
)
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
print(json.dumps({"before": before, "peak": peak, "maps": projector.nbytes / 2**20,
                  "tiles": tiles.written}))
"""


def test_the_tiles_of_an_8k_scene_stay_within_their_memory_budget(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", TILES_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["tiles"] == 6 * (1 + 4 + 16), got
    assert got["maps"] < 80, got  # f's and u's plans and d's chroma (was 141 MB)
    assert got["peak"] - got["before"] <= TILES_BUDGET_MB, got


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
