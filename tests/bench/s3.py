"""Benchmark (issue 4): batch throughput through Redis + SeaweedFS, and S3 vs local publish.

Run as ``.venv/bin/python -m tests.bench s3 [--scenes 20] [--width 8192]`` from the repo
root; prints one table. Not collected by pytest. Starts its own redis-server and SeaweedFS
on free loopback ports.

1. scenes per minute: N distinct 8K equirect captures are archived first, then queued at
   once; the clock runs from the first enqueue to the last "published", with 1 and then 2
   `panodock worker` processes (started and idle before the clock starts).
2. publishing one scene's tiles and previews to S3 vs to the local store (render_scene only,
   remap maps warm), median of 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from pydantic import SecretStr

from config.settings import load_settings, settings_env
from ingest.candidates import Candidate
from ingest.intake import Intake
from tests.support.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3
from tiling.cube import CubeProjector
from tiling.pyramid import choose_layout
from workers.contract.keys import SceneKeys
from workers.pipeline.render import render_scene
from workers.queue.actors import App
from workers.service.redis_server import RedisServer, free_port
from workers.state.ledger import State
from workers.store.factory import make_store
from workers.store.local import LocalStore

SAMPLE = Path(__file__).parents[1] / "data" / "pannellum_examplepano.jpg"


def batch(settings, workers: int, files: list[Path], tmp: Path) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Seconds for the batch and scenes per minute with ``workers`` worker processes."""
    app = App(settings, settings.redis_url)
    app.ledger.client.flushall()
    store = make_store(settings)
    store.bootstrap()
    ids: list[str] = []
    intake = Intake(store=store, ledger=app.ledger, enqueue=ids.append, default_site="bench")
    for path in files:
        intake(Candidate(root=path, files=(path,), is_folder=False))
    env = {**os.environ, **settings_env(settings)}
    procs = []
    for n in range(workers):
        env_n = {**env, "PANODOCK_DATA_DIR": str(tmp / f"worker-{workers}-{n}")}
        cmd = [sys.executable, "-m", "workers.cli.main", "worker"]
        procs.append(subprocess.Popen(cmd, env=env_n))
    try:
        while len(app.ledger.client.keys("panodock:worker:*")) < workers:
            time.sleep(0.1)
        start = time.monotonic()
        for capture_id in ids:
            app.enqueue(capture_id)
        while app.ledger.counts()[State.PUBLISHED] < len(ids):
            failed = app.ledger.counts()[State.FAILED] + app.ledger.counts()[State.QUARANTINED]
            if failed:
                raise SystemExit(f"{failed} capture(s) failed during the benchmark")
            time.sleep(0.05)
        elapsed = time.monotonic() - start
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
    return elapsed, len(ids) / elapsed * 60


def publish_time(store, equirect: np.ndarray, projector: CubeProjector, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    layout = choose_layout(equirect.shape[1])
    times = []
    for run in range(runs):
        keys = SceneKeys("bench", "publish", f"v{run}")
        t0 = time.perf_counter()
        render_scene(
            equirect, store=store, keys=keys, layout=layout, projector=projector, rotation=None,
            quality=85, equirect_max_width=8192, threads=8,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--width", type=int, default=8192)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="panodock-bench-s3-"))
    redis = RedisServer(tmp / "redis", port=free_port())
    s3 = SeaweedS3(tmp / "s3")
    try:
        url = redis.start()
        s3.start()
        base = cv2.resize(cv2.imread(str(SAMPLE)), (args.width, args.width // 2), cv2.INTER_CUBIC)
        files = []
        for n in range(args.scenes):
            path = tmp / "inbox" / f"scene-{n:02d}.jpg"
            path.parent.mkdir(exist_ok=True)
            img = np.roll(base, n * 173, axis=1)
            path.write_bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
            files.append(path)
        rows = []
        for workers in (1, 2):
            settings = load_settings(
                data_dir=tmp / "data", redis_url=url, s3_endpoint=s3.endpoint,
                s3_bucket=f"bench-{workers}", s3_access_key=ACCESS_KEY,
                s3_secret_key=SecretStr(SECRET_KEY), s3_secure=False,
            )  # fmt: skip
            elapsed, per_min = batch(settings, workers, files, tmp)
            rows.append((workers, elapsed, per_min))
        projector = CubeProjector()
        publish_time(LocalStore(tmp / "warmup"), base, projector, runs=1)  # warm the maps
        local = publish_time(LocalStore(tmp / "local"), base, projector)
        s3_store = make_store(settings)
        s3_store.bootstrap()
        remote = publish_time(s3_store, base, projector)
    finally:
        s3.stop()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"panodock S3 benchmark: {args.scenes} captures of {args.width}x{args.width // 2}, "
        f"Redis + SeaweedFS on this machine ({os.cpu_count()} cores)\n"
    )
    print("| measurement | result |")
    print("|---|---|")
    for workers, elapsed, per_min in rows:
        print(
            f"| {args.scenes} scenes, {workers} worker process(es) | {elapsed:.1f} s, "
            f"{per_min:.1f} scenes/min |"
        )
    print(f"| scaling 1 -> 2 workers | x{rows[1][2] / rows[0][2]:.2f} |")
    print(f"| publish one scene's tiles + previews, local store | {local:.2f} s |")
    print(f"| publish one scene's tiles + previews, S3 (SeaweedFS) | {remote:.2f} s |")


if __name__ == "__main__":
    main()
