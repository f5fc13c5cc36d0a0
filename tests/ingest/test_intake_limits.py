"""Bounded intake: a file above the size limit is refused unread; others are read in chunks.

Memory is measured in a child process (``resource.getrusage`` peak RSS, and the bytes it
read from ``/proc/self/io``), on sparse files made with ``truncate`` (2 GiB, and 1 GiB
where the test archives it for real): they cost no disk until written, and would cost
their size in memory if anything read them whole.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from config.settings import Settings
from workers.state.ledger import Ledger, State

GIB = 1024**3
MIB = 1024**2

# In a fresh process: "intake" takes the file through the intake; "worker" records it as
# an archived original already in the store (the sparse file moved there, as the intake
# would have copied it) and runs its job. Reports peak RSS growth and bytes read (rchar).
_CHILD = """
import json, os, resource, sys
from pathlib import Path
from config.settings import load_settings
from tests.support.pipeline import Harness, file_candidate
from workers.contract.keys import raw_key
from workers.state.ledger import Capture, RawFile, State

mode, redis_url, data_dir, path, limit = sys.argv[1:6]
path = Path(path)
settings = load_settings(
    data_dir=Path(data_dir), redis_url=redis_url, max_file_bytes=int(limit), blur="off"
)
harness = Harness(settings)
if mode == "worker":
    sha = "0" * 64
    original = RawFile(name=path.name, sha256=sha, size=path.stat().st_size,
                       key=raw_key(sha, path.name))
    target = harness.store.root / original.key
    target.parent.mkdir(parents=True)
    os.replace(path, target)
    capture = Capture(id="c" * 24, site="default", scene="big", source=str(path),
                      files=[original])
    harness.app.ledger.create(capture)
    harness.app.ledger.transition(capture.id, State.QUEUED)
    harness.queued.append(capture.id)

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def read_bytes() -> int:
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(io["rchar"])

rss, read = peak(), read_bytes()
capture_id = harness.ingest(file_candidate(path)) if mode == "intake" else "c" * 24
harness.drain()
print(json.dumps({"capture_id": capture_id, "rss_growth": peak() - rss,
                  "read": read_bytes() - read}))
"""


def _run_in_child(mode: str, settings: Settings, path: Path, limit: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, settings.redis_url or "", str(settings.data_dir),
         str(path), str(limit)],
        capture_output=True, text=True, timeout=60, check=True,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["truncate", "-s", str(size), str(path)], check=True)
    return path


def test_a_file_above_the_limit_is_quarantined_by_its_size_without_being_read(
    settings: Settings, tmp_path: Path
) -> None:
    big = _sparse(tmp_path / "inbox" / "huge.jpg", 2 * GIB)
    result = _run_in_child("intake", settings, big, limit=512 * MIB)

    assert result["read"] < MIB  # not a byte of the file
    capture = _ledger(settings).get(result["capture_id"])
    assert capture.state == State.QUARANTINED and capture.files == []
    reason = capture.reason or ""
    assert "huge.jpg is 2.0 GiB (2,147,483,648 bytes)" in reason
    assert "limit of 512.0 MiB (536,870,912 bytes)" in reason
    assert "NOT archived" in reason and "left in the inbox" in reason
    assert big.exists() and big.stat().st_size == 2 * GIB
    raw = settings.data_dir / "store" / "raw"
    assert not raw.exists() or not any(raw.rglob("*"))


def test_a_1_gib_file_under_the_limit_is_hashed_and_archived_in_bounded_memory(
    settings: Settings, tmp_path: Path
) -> None:
    # 1 GiB, not 2: archiving writes it out for real, and this test has to stay fast.
    big = _sparse(tmp_path / "inbox" / "big.tif", GIB)
    try:
        result = _run_in_child("intake", settings, big, limit=4 * GIB)
        # The intake's job runs too: the worker refuses the zeros from their first bytes.
        assert result["rss_growth"] < 64 * MIB, f"peak RSS grew {result['rss_growth']:,} bytes"
        assert result["read"] >= GIB  # it was hashed and copied, in 1 MiB reads
        capture = _ledger(settings).get(result["capture_id"])
        [original] = capture.files
        assert original.size == GIB
        assert (settings.data_dir / "store" / original.key).stat().st_size == GIB
        assert capture.state == State.QUARANTINED
        assert "big.tif is not an image (it starts with 4096 zero bytes)" in (capture.reason or "")
    finally:
        _empty(settings.data_dir / "store")


def test_the_worker_reads_a_2_gib_original_from_the_store_in_bounded_memory(
    settings: Settings, tmp_path: Path
) -> None:
    big = _sparse(tmp_path / "big.jpg", 2 * GIB)
    try:
        result = _run_in_child("worker", settings, big, limit=4 * GIB)
        assert result["rss_growth"] < 64 * MIB, f"peak RSS grew {result['rss_growth']:,} bytes"
        assert result["read"] < 8 * MIB  # its first bytes were enough to refuse it
        capture = _ledger(settings).get(result["capture_id"])
        assert capture.state == State.QUARANTINED
        assert "big.jpg is not an image (it starts with 4096 zero bytes)" in (capture.reason or "")
    finally:
        _empty(settings.data_dir / "store")


def _ledger(settings: Settings) -> Ledger:
    return Ledger(client=redis.Redis.from_url(settings.redis_url or ""))


def _empty(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.unlink()
