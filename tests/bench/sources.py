"""Benchmark of the capture sources (issue 7); a script, not collected by pytest.

    .venv/bin/python -m tests.bench sources [--files 40] [--mb 4]

Runs the real intake (hash, archive to a local store, ledger on a private redis-server,
queue into a list) behind each source and prints one table:

- import throughput (MB/s, files/s) from a local inotify folder, a polled share folder, and
  the gphoto2 path (libgphoto2's Directory Browse driver on ``disk:<dir>``; a real camera's
  USB link is slower: this measures panodock's side only);
- time from a file becoming complete (its last write closed) to its capture being queued,
  against the targets: <= 2 s local, <= stability window + 2 s on a polled share.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from config.settings import load_settings
from ingest.intake import Intake
from ingest.sources.local import LocalSource
from ingest.sources.ptp import PtpSource
from ingest.sources.share import ShareSource
from tests.support.waiting import wait_for
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
        finally:
            redis.stop()
    header = ("source", "MB/s", "files/s", "complete->queued s (worst of 3)", "target s")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(f"{args.files} files x {args.mb:g} MB, real intake (sha256, local store, redis ledger)")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
