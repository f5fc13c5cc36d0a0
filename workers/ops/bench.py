"""``panodock bench``: time one equirect JPEG through the real pipeline, print a table.

A child process (so peak RSS is its own) runs ``Pipeline.process`` on one capture against
a private Redis and a local store in a temporary directory: the first run is cold (remap
maps are built), the next ones warm (maps cached, as in a long-running worker). Between
runs the published version is deleted and the capture re-queued, so every run does the
full work: decode, project, tile, encode, write, previews, manifest, pointer.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from config.settings import Settings
from workers.state.ledger import Ledger


def synthetic_equirect(width: int, seed: int = 7) -> np.ndarray:
    """A textured 2:1 test panorama (used when no --input is given)."""
    rng = np.random.default_rng(seed)
    height = width // 2
    small = rng.integers(0, 255, (height // 64, width // 64, 3), dtype=np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 12, (height, width, 1)).astype(np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def make_input(width: int, source: Path | None) -> bytes:
    """The benchmark JPEG: ``source`` resized to width x width/2 (Q90), or synthetic."""
    if source is not None:
        img = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot read {source}")
        img = cv2.resize(img, (width, width // 2), interpolation=cv2.INTER_CUBIC)
    else:
        img = synthetic_equirect(width)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def _child(settings_json: str, redis_url: str, capture_id: str, runs: int, out: mp.Queue) -> None:
    from ingest.image import configure_libvips
    from workers.contract.keys import scene_root
    from workers.queue.actors import App
    from workers.queue.broker import redis_client
    from workers.state.ledger import Ledger, State
    from workers.store.local import LocalStore

    configure_libvips()  # as a worker process does
    settings = Settings.model_validate_json(settings_json)
    ledger = Ledger(client=redis_client(redis_url))
    store = LocalStore(settings.store_root)
    app = App(settings, redis_url, store=store)
    pipeline = app.pipeline  # exactly what a worker process runs, face detector included
    rows = []
    for run in range(runs + 1):
        capture = ledger.get(capture_id)
        shutil.rmtree(store.root / scene_root(capture.site, capture.scene), ignore_errors=True)
        ledger.transition(capture_id, State.QUEUED)
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        pipeline.process(capture_id)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF)
        capture = ledger.get(capture_id)
        if capture.state != State.PUBLISHED:
            raise SystemExit(f"bench capture ended {capture.state}: {capture.reason}")
        prefix = store.root / scene_root(capture.site, capture.scene) / str(capture.version)
        rows.append(
            {
                "run": "cold" if run == 0 else f"warm {run}",
                "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                "wall": wall,
                "rss": after.ru_maxrss / 1024,
                "tiles": sum(1 for _ in (prefix / "tiles").rglob("*.jpg")),
                "stages": _stage_times(ledger, capture_id),
            }
        )
    out.put(rows)


def _stage_times(ledger: Ledger, capture_id: str) -> dict[str, float]:
    """Seconds spent in each stage of the last run, from the ledger history."""
    events = ledger.history(capture_id)
    start = max(i for i, e in enumerate(events) if e.stage == "metadata")
    times: dict[str, float] = {}
    for a, b in zip(events[start:], events[start + 1 :], strict=False):
        if a.stage:
            times[a.stage] = times.get(a.stage, 0.0) + (b.at - a.at).total_seconds()
    return times


def run_bench(*, width: int, runs: int, settings: Settings, source: Path | None = None) -> str:
    """Run the benchmark and return the table (see module docstring)."""
    from ingest.candidates import Candidate
    from ingest.intake import Intake
    from workers.queue.broker import redis_client
    from workers.service.redis_server import RedisServer, free_port
    from workers.state.ledger import Ledger
    from workers.store.local import LocalStore

    tmp = Path(tempfile.mkdtemp(prefix="panodock-bench-"))
    redis = RedisServer(tmp / "redis", binary=settings.redis_server, port=free_port())
    try:
        url = redis.start()
        bench_settings = settings.model_copy(
            update={"data_dir": tmp, "store_dir": tmp / "store", "webhooks": []}
        )
        data = make_input(width, source)
        path = tmp / "inbox" / f"bench-{width}.jpg"
        path.parent.mkdir()
        path.write_bytes(data)
        intake = Intake(
            store=LocalStore(bench_settings.store_root),
            ledger=Ledger(client=redis_client(url)),
            enqueue=lambda capture_id: None,
            default_site="bench",
            max_file_bytes=bench_settings.max_file_bytes,
        )
        capture_id = intake(Candidate(root=path, files=(path,), is_folder=False))
        ctx = mp.get_context("spawn")
        out: mp.Queue = ctx.Queue()
        child = ctx.Process(
            target=_child, args=(bench_settings.model_dump_json(), url, capture_id, runs, out)
        )
        child.start()
        rows = out.get(timeout=600)
        child.join()
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return _table(rows, width, len(data), source, bench_settings.blur)


def _table(
    rows: list[dict[str, Any]], width: int, nbytes: int, source: Path | None, blur: str
) -> str:
    what = f"{source.name} resized" if source else "synthetic"
    lines = [
        f"panodock bench: {width}x{width // 2} JPEG ({nbytes / 1e6:.1f} MB, {what}) -> "
        f"published tile set (local store, face blurring {blur})",
        "",
        "| run | CPU s (user+sys) | wall s | peak RSS MB | tiles "
        "| decode+meta s | privacy s | tiles s | previews s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        st = r["stages"]
        lines.append(
            f"| {r['run']} | {r['cpu']:.2f} | {r['wall']:.2f} | {r['rss']:.0f} | {r['tiles']} | "
            f"{st.get('metadata', 0) + st.get('validate', 0):.2f} | {st.get('privacy', 0):.2f} | "
            f"{st.get('tiles', 0):.2f} | "
            f"{st.get('previews', 0):.2f} |"
        )
    lines.append("")
    lines.append(
        "targets: <= 2.0 s CPU, <= 600 MB peak RSS (peak RSS is the process maximum so far)"
    )
    return "\n".join(lines)
