from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from ingest.sources.share import ShareSource
from ingest.sources.spool import RemoteFile
from tests.support.pipeline import Harness
from tests.support.sources import Clock, Intake, mount_tmpfs, sha, umount
from workers.state.ledger import State

WINDOW = 5.0


def share(
    path: Path,
    intake: Intake,
    clock: Clock,
    spool: Path,
    *,
    stable_seconds: float = WINDOW,
    require_mount: bool = False,
) -> ShareSource:
    return ShareSource(
        "nas",
        path,
        deliver=intake,
        spool_root=spool,
        site="campus",
        stable_seconds=stable_seconds,
        require_mount=require_mount,
        clock=clock,
    )


def test_a_growing_file_is_taken_only_once_it_stopped_changing(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    source = share(root, intake, clock, tmp_path / "spool")
    growing = root / "pano.jpg"
    content = b""
    with growing.open("ab") as writer:
        for chunk in range(6):  # a slow SMB copy: a few bytes every few seconds
            piece = bytes([chunk]) * 1000
            writer.write(piece)
            writer.flush()
            os.utime(growing, ns=(chunk * 10**9, chunk * 10**9))  # mtime moves too
            content += piece
            assert source.scan() == 0
            clock.advance(WINDOW - 1)  # each pause is shorter than the window
    assert source.scan() == 0  # unchanged since the last scan, but not for a whole window yet
    assert intake.candidates == []
    clock.advance(1.0)
    assert source.scan() == 1
    assert intake.captures() == 1
    capture = intake.harness.app.ledger.in_state(State.QUEUED)[0]
    assert capture.files[0].sha256 == sha(content) and capture.files[0].size == 6000
    assert capture.site == "campus" and capture.source == "share nas:pano.jpg"
    assert source.health().files_imported == 1 and source.health().files_pending == 0


def test_a_capture_folder_is_taken_when_its_sidecar_is_there(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    root = tmp_path / "share"
    folder = root / "room12"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"a" * 100)
    (folder / "b.jpg").write_bytes(b"b" * 100)
    source = share(root, intake, clock, tmp_path / "spool")
    assert source.scan() == 0  # no sidecar, files not stable yet
    (folder / "capture.json").write_text(json.dumps({"scene": "room-12"}))
    clock.advance(0.5)
    assert source.scan() == 0  # the sidecar must be seen unchanged by two scans
    clock.advance(0.5)
    assert source.scan() == 1
    (candidate,) = intake.candidates
    assert candidate.is_folder and candidate.note == "grouped by room12/capture.json"
    assert sorted(p.name for p in candidate.files) == ["a.jpg", "b.jpg", "capture.json"]
    history = intake.harness.app.ledger.history(intake.queued[0])
    assert "grouped by room12/capture.json" in (history[0].detail or "")


def test_an_unmounted_share_is_offline_and_nothing_is_deleted_or_redone(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    point = tmp_path / "nas"
    mount_tmpfs(point)
    try:
        (point / "one.jpg").write_bytes(b"1" * 500)
        source = share(point, intake, clock, tmp_path / "spool", require_mount=True)
        source.scan()
        clock.advance(WINDOW)
        assert source.scan() == 1
        umount(point)
        clock.advance(WINDOW)
        assert source.scan() == 0
        health = source.health()
        assert not health.online and "not mounted" in health.detail
        mount_tmpfs(point)  # back, with the same file (tmpfs lost it; rewrite it as it was)
        (point / "one.jpg").write_bytes(b"1" * 500)
        source.scan()
        clock.advance(WINDOW)
        assert source.scan() == 1  # new mtime: copied again, and the ledger sees the same capture
        assert source.health().online
        assert intake.captures() == 1 and len(intake.queued) == 1
    finally:
        while point.is_mount():
            umount(point, lazy=True)


class FlakyShare(ShareSource):
    """Copies half of the first file, then the connection drops (EIO)."""

    interruptions = 1

    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        if self.interruptions:
            self.interruptions -= 1
            data = (self.path / remote.path).read_bytes()
            dest.write_bytes(data[: len(data) // 2])
            raise OSError(errno.EIO, "Input/output error")
        return super()._copy(remote, dest)


def test_an_interrupted_copy_is_redone_and_verified(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    data = os.urandom(300_000)
    (root / "big.jpg").write_bytes(data)
    source = FlakyShare(
        "nas", root, deliver=intake, spool_root=tmp_path / "spool", site="s",
        stable_seconds=0, require_mount=False, clock=clock,
    )  # fmt: skip
    assert source.scan() == 0
    assert intake.candidates == []
    assert not list((tmp_path / "spool").rglob("*.part"))
    assert source.health().errors == 1 and "interrupted" in (source.health().last_error or "")
    assert source.scan() == 1
    capture = intake.harness.app.ledger.get(intake.queued[0])
    assert capture.files[0].sha256 == sha(data)
    assert intake.archived_sha(sha(data), len(data))


def test_leftovers_of_a_crash_are_cleared_and_a_failed_delivery_is_retried(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "x.jpg").write_bytes(b"x" * 1000)
    spool = tmp_path / "spool"
    (spool / "nas" / "staging").mkdir(parents=True)
    (spool / "nas" / "staging" / "x.jpg.part").write_bytes(b"x" * 10)  # a copy cut by a crash
    (spool / "nas" / "ready" / ".abc.building").mkdir(parents=True)
    source = share(root, intake, clock, spool, stable_seconds=0)
    intake.fail_next = 1
    assert source.scan() == 0  # copied, but the intake failed: the group waits in ready/
    assert not list(spool.rglob("*.part"))
    assert not (spool / "nas" / "ready" / ".abc.building").exists()
    assert source.scan() == 1  # delivered from ready/, not copied again
    assert source.scan() == 0
    assert intake.captures() == 1 and len(intake.candidates) == 1


@pytest.fixture
def ram(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs for the share, the spool and the store: 2,000 files on this machine's disk
    cost two fsyncs each (the spool's durability, 3-6 ms apiece), which is not what the
    test is about."""
    point = tmp_path / "ram"
    mount_tmpfs(point, size="256m")
    yield point
    umount(point, lazy=True)


def test_two_thousand_files_dropped_at_once_are_each_ingested_once(
    ram: Path, settings: Settings, clock: Clock
) -> None:
    intake = Intake(Harness(settings.model_copy(update={"data_dir": ram / "data"})))
    root = ram / "share"
    root.mkdir()
    for i in range(2000):
        (root / f"f{i:04d}.jpg").write_bytes(b"%d" % i * 8)
    source = share(root, intake, clock, ram / "spool", stable_seconds=0)
    source.scan()
    source.scan()  # a second scan finds nothing new
    assert len(intake.candidates) == 2000
    assert intake.captures() == 2000 and intake.queued_count() == 2000
    assert len(set(intake.queued)) == 2000
    assert source.health().files_pending == 0


def test_the_same_file_on_two_shares_is_one_capture(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"copy-on-{name}.jpg").write_bytes(b"same bytes")
    first = share(tmp_path / "a", intake, clock, tmp_path / "spool", stable_seconds=0)
    second = ShareSource(
        "nas2", tmp_path / "b", deliver=intake, spool_root=tmp_path / "spool", site="s",
        stable_seconds=0, require_mount=False, clock=clock,
    )  # fmt: skip
    assert first.scan() == 1 and second.scan() == 1
    assert intake.captures() == 1 and len(intake.queued) == 1


def test_an_unreadable_share_is_offline(tmp_path: Path, intake: Intake, clock: Clock) -> None:
    source = share(tmp_path / "missing", intake, clock, tmp_path / "spool")
    assert source.scan() == 0
    health = source.health()
    assert not health.online and "cannot be read" in health.detail
    assert health.last_scan_at == clock.now


@pytest.mark.parametrize("bad", ["../escape.jpg", "/etc/passwd"])
def test_a_source_cannot_write_outside_its_spool(tmp_path: Path, bad: str) -> None:
    from ingest.sources.spool import _safe_parts

    if bad.startswith("/"):
        assert _safe_parts(bad) == ("etc", "passwd")
    else:
        with pytest.raises(ValueError, match="refusing"):
            _safe_parts(bad)


def test_a_paused_intake_leaves_the_files_on_the_share(
    tmp_path: Path, intake: Intake, clock: Clock
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "pano.jpg").write_bytes(b"\xff\xd8" + b"x" * 1000)
    open_now = [False]  # a full disk: the free-space gate is shut
    source = ShareSource(
        "nas",
        root,
        deliver=intake,
        spool_root=tmp_path / "spool",
        site="campus",
        stable_seconds=WINDOW,
        require_mount=False,
        clock=clock,
        accepting=lambda: open_now[0],
    )
    for _ in range(3):
        assert source.scan() == 0
        clock.advance(WINDOW)
    assert intake.candidates == []
    assert not any(p.is_file() for p in (tmp_path / "spool").rglob("*")), "nothing copied"
    open_now[0] = True  # space is back: seen now, taken once stable for the window
    assert source.scan() == 0
    clock.advance(WINDOW)
    assert source.scan() == 1
    assert intake.captures() == 1
