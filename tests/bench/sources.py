"""Benchmark of the capture sources (issue 7); a script, not collected by pytest.

    .venv/bin/python -m tests.bench sources [--files 40] [--mb 4]

Runs the real intake (hash, archive to a local store, ledger on a private redis-server,
queue into a list) behind each source and prints one table:

- import throughput (MB/s, files/s) from a local inotify folder, a polled share folder, and
  the gphoto2 path (libgphoto2's Directory Browse driver on ``disk:<dir>``; a real camera's
  USB link is slower: this measures panodock's side only);
- time from a file becoming complete (its last write closed) to its capture being queued,
  against the targets: <= 2 s local, <= stability window + 2 s on a polled share;
- a Wi-Fi camera speaking the Open Spherical Camera API: the simulated camera
  (tests/support/osc_camera.py, Insta360 rules: XSRF header, one request at a time) on
  loopback, so this is panodock's side only (a camera's own Wi-Fi gives ~2-10 MB/s); and
  drop-to-published for one 8K shot: ``panodock run`` (the real service, 2 workers) with an
  osc source polling every second, from the moment the shot is on the camera to its scene's
  ``current.json`` (``--no-publish`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from config.settings import load_settings
from ingest.intake import Intake
from ingest.sources.local import LocalSource
from ingest.sources.osc import OscSource
from ingest.sources.ptp import PtpSource
from ingest.sources.share import ShareSource
from tests.support.osc_camera import OscCamera
from tests.support.waiting import wait_for
from workers.ops.bench import synthetic_equirect
from workers.queue.actors import App
from workers.service.redis_server import RedisServer, free_port
from workers.store.factory import make_store

STABLE_SECONDS = 2.0


class Queue:
    """The enqueue callback: remembers when each capture was queued."""

    def __init__(self) -> None:
        self.at: list[float] = []

    def __call__(self, capture_id: str) -> None:
        self.at.append(time.monotonic())


def make_intake(root: Path, redis_url: str) -> tuple[Intake, Queue]:
    settings = load_settings(data_dir=root / "data", redis_url=redis_url)
    store = make_store(settings)
    app = App(settings, redis_url, store=store)
    queue = Queue()
    intake = Intake(store=store, ledger=app.ledger, enqueue=queue, default_site="bench")
    return intake, queue


def write_files(folder: Path, count: int, size: int, prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        # distinct content per file and per run, so the ledger dedupes nothing
        (folder / f"{prefix}{i:04d}.jpg").write_bytes(os.urandom(size))


def wait(condition: Callable[[], bool]) -> None:
    wait_for(condition, 120.0, "benchmark step")


def throughput(scan: Callable[[], object], queue: Queue, n: int) -> float:
    start = time.monotonic()
    scan()
    wait(lambda: len(queue.at) >= n)
    return time.monotonic() - start


def latency(folder: Path, queue: Queue, size: int, name: str) -> float:
    before = len(queue.at)
    with (folder / name).open("wb") as f:
        f.write(os.urandom(size))
    done = time.monotonic()
    wait(lambda: len(queue.at) > before)
    return queue.at[before] - done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument(
        "--no-publish", action="store_true", help="skip the 8K drop-to-published run"
    )
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    total_mb = args.files * size / 1e6
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis = RedisServer(root / "redis", port=free_port())
        url = redis.start()
        try:
            # local: files written elsewhere on the same disk, then moved in at once
            intake, queue = make_intake(root / "l", url)
            local = LocalSource(
                "local", root / "inbox", deliver=intake, site="b", settle_seconds=2.0
            )
            local.start()
            write_files(root / "staged", args.files, size, "L")
            secs = throughput(
                lambda: (
                    [p.rename(root / "inbox" / p.name) for p in (root / "staged").iterdir()]
                    and None
                ),
                queue,
                args.files,
            )
            lat = max(latency(root / "inbox", queue, size, f"lat{i}.jpg") for i in range(3))
            local.stop()
            rows.append(("local (inotify)", f"{total_mb / secs:.0f}", f"{args.files / secs:.1f}",
                         f"{lat:.2f}", "<= 2.0"))  # fmt: skip

            # polled share: a plain folder here (the polling does not care what is mounted)
            intake, queue = make_intake(root / "s", url)
            write_files(root / "share", args.files, size, "S")
            share = ShareSource(
                "share", root / "share", deliver=intake, spool_root=root / "spool", site="b",
                stable_seconds=0.0, require_mount=False,
            )  # fmt: skip
            secs = throughput(share.scan, queue, args.files)
            share = ShareSource(
                "share2", root / "share", deliver=intake, spool_root=root / "spool", site="b",
                stable_seconds=STABLE_SECONDS, require_mount=False, poll_seconds=0.5,
            )  # fmt: skip
            share.scan()  # the journal of a fresh source is empty: take the old files first
            share.start()
            time.sleep(STABLE_SECONDS + 1.0)
            lat = max(latency(root / "share", queue, size, f"lat{i}.jpg") for i in range(3))
            share.stop()
            rows.append((f"share (polled, window {STABLE_SECONDS:g} s)", f"{total_mb / secs:.0f}",
                         f"{args.files / secs:.1f}", f"{lat:.2f}",
                         f"<= {STABLE_SECONDS + 2:.1f}"))  # fmt: skip

            # gphoto2: Directory Browse driver on disk:<dir>
            intake, queue = make_intake(root / "p", url)
            write_files(root / "camera" / "DCIM" / "100TEST", args.files, size, "P")
            camera = PtpSource(
                "camera", port=f"disk:{root / 'camera'}", model="Directory Browse",
                deliver=intake, spool_root=root / "spool", site="b", group_gap_seconds=0,
            )  # fmt: skip
            start = time.monotonic()
            camera.scan()  # one multi-file capture or several: the grouping rule decides
            secs = time.monotonic() - start
            assert camera.health().files_imported == args.files, camera.health()
            camera.stop()
            rows.append(("ptp (gphoto2 Directory Browse)", f"{total_mb / secs:.0f}",
                         f"{args.files / secs:.1f}", "-", "-"))  # fmt: skip

            rows.append(osc_row(root, url, args.files, size))
        finally:
            redis.stop()
        published = None if args.no_publish else drop_to_published(root / "run")
    header = ("source", "MB/s", "files/s", "complete->queued s (worst of 3)", "target s")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(f"{args.files} files x {args.mb:g} MB, real intake (sha256, local store, redis ledger)")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    if published is not None:
        seconds, archived, mb = published
        print(
            f"osc, one 8192x4096 shot ({mb:.1f} MB), panodock run (2 workers, poll 1 s): "
            f"on the camera -> published {seconds:.1f} s (of which -> archived {archived:.1f} s)"
        )


def osc_row(root: Path, redis_url: str, files: int, size: int) -> tuple[str, str, str, str, str]:
    """Import ``files`` photos from the simulated camera; then three single shots' latency."""
    intake, queue = make_intake(root / "o", redis_url)
    with OscCamera(model="Insta360 X3", manufacturer="Arashi Vision", insta360=True) as camera:
        for i in range(files):  # a minute apart: one capture each
            camera.add("100INSTA", f"IMG_{i:04d}.jpg", os.urandom(size),
                       f"2026:05:01 {10 + i // 60:02d}:{i % 60:02d}:00+02:00")  # fmt: skip
        source = OscSource(
            "wifi", url=camera.url, deliver=intake, spool_root=root / "spool", site="b",
            poll_seconds=0.5,
        )  # fmt: skip
        secs = throughput(source.scan, queue, files)
        assert source.health().files_imported == files, source.health()
        assert camera.overlaps == 0 and camera.xsrf_refused == 0
        source.start()
        worst = 0.0
        for i in range(3):
            before = len(queue.at)
            camera.add("100INSTA", f"LAT_{i}.jpg", os.urandom(size),
                       f"2026:05:02 10:{i:02d}:00+02:00")  # fmt: skip
            taken = time.monotonic()
            wait(lambda before=before: len(queue.at) > before)  # type: ignore[misc]
            worst = max(worst, queue.at[before] - taken)
        source.stop()
    total_mb = files * size / 1e6
    return ("osc (simulated camera, loopback, poll 0.5 s)", f"{total_mb / secs:.0f}",
            f"{files / secs:.1f}", f"{worst:.2f}", "<= poll + 2")  # fmt: skip


def drop_to_published(root: Path) -> tuple[float, float, float]:
    """Seconds from an 8K shot appearing on the camera to its scene being live, and to its
    original being archived (downloaded, verified, stored); and the shot's MB."""
    ok, encoded = cv2.imencode(".jpg", synthetic_equirect(8192), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    shot = encoded.tobytes()
    data = root / "panodock-data"
    with OscCamera(insta360=True) as camera:
        entry = {"name": "wifi", "kind": "osc", "url": camera.url, "site": "bench"}
        env = {
            **os.environ,
            "PANODOCK_DATA_DIR": str(data),
            "PANODOCK_WORKERS": "2",
            "PANODOCK_SERVE_PORT": str(free_port()),
            "PANODOCK_SOURCES": json.dumps([entry]),
        }
        env.pop("PANODOCK_REDIS_URL", None)
        service = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "run"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            # Ready: the source has asked the (empty) camera for its state a few times.
            wait(lambda: sum(p == "/osc/state" for _, p, _ in camera.requests) >= 3)
            camera.add("100INSTA", "IMG_8K.jpg", shot, "2026:05:01 10:00:00+02:00",
                       width=8192, height=4096)  # fmt: skip
            dropped = time.monotonic()
            wait(lambda: bool(list((data / "store" / "raw").glob("*/*"))))
            archived = time.monotonic() - dropped
            pointers = data / "store" / "scenes" / "bench"
            wait(lambda: bool(list(pointers.glob("*/current.json"))))
            seconds = time.monotonic() - dropped
        finally:
            service.send_signal(signal.SIGINT)
            service.wait(60)
    return seconds, archived, len(shot) / 1e6


if __name__ == "__main__":
    main()
