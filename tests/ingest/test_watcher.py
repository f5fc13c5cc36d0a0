"""The inbox watcher against real inotify and real files (no mocks of watchdog)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config.errors import ConfigError
from ingest.candidates import Candidate, is_ignored_name
from ingest.watcher import InboxWatcher
from tests.support.waiting import wait_for

# watchdog warns this when a new sub-folder's watch is added twice (its own race, harmless).
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")

SETTLE = 0.3
RESCAN = 0.2
NEVER = 3600.0  # a settle time no test waits for: only an event can make the file complete


class Inbox:
    """A started watcher plus what its callback received, as (candidate, sizes at delivery)."""

    def __init__(self, watcher: InboxWatcher, got: list[tuple[Candidate, tuple[int, ...]]]):
        self.watcher = watcher
        self.got = got

    @property
    def path(self) -> Path:
        return self.watcher.inbox

    def roots(self) -> list[Path]:
        return [candidate.root for candidate, _ in self.got]

    def wait_scans(self, count: int = 2, timeout: float = 2.0) -> None:
        """Return after ``count`` more full rescans."""
        target = self.watcher.health().scans + count
        wait_for(lambda: self.watcher.health().scans >= target, timeout)


@pytest.fixture
def make_inbox(tmp_path: Path) -> Iterator[Callable[..., Inbox]]:
    started: list[InboxWatcher] = []

    def make(
        *,
        settle: float = SETTLE,
        rescan: float = RESCAN,
        on_candidate: Callable[[Candidate], None] | None = None,
        start: bool = True,
    ) -> Inbox:
        got: list[tuple[Candidate, tuple[int, ...]]] = []
        lock = threading.Lock()

        def record(candidate: Candidate) -> None:
            if on_candidate is not None:
                on_candidate(candidate)
            sizes = tuple(path.stat().st_size for path in candidate.files)
            with lock:
                got.append((candidate, sizes))

        watcher = InboxWatcher(
            tmp_path / "inbox", record, settle_seconds=settle, rescan_seconds=rescan
        )
        if start:
            watcher.start()
            started.append(watcher)
        return Inbox(watcher, got)

    yield make
    for watcher in started:
        watcher.stop()
        assert not watcher.health().running


def test_file_written_in_one_go_is_delivered_once_settled_after_its_close(
    make_inbox: Callable[..., Inbox],
) -> None:
    inbox = make_inbox(settle=1.0)
    (inbox.path / "pano.jpg").write_bytes(b"j" * 5000)
    closed = time.monotonic()

    wait_for(lambda: len(inbox.got) == 1, timeout=3.0)
    assert time.monotonic() - closed >= 1.0  # a close alone is not "complete"
    candidate, sizes = inbox.got[0]
    assert candidate == Candidate(inbox.path / "pano.jpg", (inbox.path / "pano.jpg",), False)
    assert sizes == (5000,)
    inbox.wait_scans()
    assert len(inbox.got) == 1
    assert inbox.watcher.health().candidates_delivered == 1


def test_file_open_for_writing_is_held_through_rescans_then_delivered_once(
    make_inbox: Callable[..., Inbox],
) -> None:
    inbox = make_inbox()
    target = inbox.path / "slow.jpg"

    def pause_longer_than_settle() -> None:
        time.sleep(SETTLE)
        inbox.wait_scans(2)  # so a whole rescan saw the file older than settle_seconds
        assert inbox.got == []

    with target.open("wb") as writer:
        pause_longer_than_settle()  # opened, nothing written: only the open holds it
        writer.write(b"a" * 4096)
        writer.flush()
        pause_longer_than_settle()  # half written
        writer.write(b"b" * 4096)

    wait_for(lambda: len(inbox.got) == 1)
    assert inbox.got[0][1] == (8192,)
    inbox.wait_scans()
    assert len(inbox.got) == 1


def test_a_writer_that_opens_appends_and_closes_every_tick_yields_one_complete_candidate(
    make_inbox: Callable[..., Inbox],
) -> None:
    # A slow network copy: open, append, close, again and again; each close is a
    # FileClosedEvent. The file is taken once, after its last close, complete.
    # The settle time is ten times the pause between appends, so a loaded machine that
    # oversleeps a pause does not make the copy look finished.
    inbox = make_inbox(settle=2.0, rescan=0.2)
    target = inbox.path / "copy.jpg"
    for _ in range(10):
        with target.open("ab") as writer:
            writer.write(b"c" * 10_000)
        time.sleep(0.2)
        assert inbox.got == []

    wait_for(lambda: len(inbox.got) == 1, timeout=6.0)
    assert inbox.got[0][1] == (100_000,)
    inbox.wait_scans(3)
    assert len(inbox.got) == 1


def test_file_renamed_into_the_inbox_is_delivered_by_the_move_event(
    make_inbox: Callable[..., Inbox], tmp_path: Path
) -> None:
    inbox = make_inbox(settle=NEVER)
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"m" * 100)
    os.rename(outside, inbox.path / "moved.jpg")

    wait_for(lambda: inbox.roots() == [inbox.path / "moved.jpg"])


def test_files_present_before_start_are_delivered_by_the_start_up_rescan(
    make_inbox: Callable[..., Inbox], tmp_path: Path
) -> None:
    (tmp_path / "inbox").mkdir()
    old = tmp_path / "inbox" / "old.jpg"
    old.write_bytes(b"o")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / "inbox" / "fresh.jpg"  # too new to be trusted at once: settles later
    fresh.write_bytes(b"f")
    future = tmp_path / "inbox" / "future.jpg"  # a camera clock set a day ahead
    future.write_bytes(b"c")
    os.utime(future, (time.time() + 86400, time.time() + 86400))
    inbox = make_inbox(rescan=NEVER)  # no periodic rescan: only the start-up one

    wait_for(lambda: len(inbox.got) == 3)
    names = ["fresh.jpg", "future.jpg", "old.jpg"]
    assert sorted(inbox.roots()) == [inbox.path / name for name in names]
    assert inbox.watcher.health().scans == 1


def test_capture_folder_is_delivered_once_when_its_capture_json_arrives(
    make_inbox: Callable[..., Inbox],
) -> None:
    inbox = make_inbox()
    folder = inbox.path / "room-12"
    (folder / "bracket").mkdir(parents=True)
    (folder / "lens1.jpg").write_bytes(b"1" * 10)
    (folder / "bracket" / "ev-2.jpg").write_bytes(b"2" * 20)
    (folder / ".DS_Store").write_bytes(b"x")
    inbox.wait_scans(3)  # the images are older than settle_seconds by now
    assert inbox.got == []

    (folder / "capture.json").write_text('{"capture_id": "c-12"}')
    wait_for(lambda: len(inbox.got) == 1)
    candidate, sizes = inbox.got[0]
    assert candidate.root == folder and candidate.is_folder
    assert candidate.files == (
        folder / "bracket" / "ev-2.jpg",
        folder / "capture.json",
        folder / "lens1.jpg",
    )
    assert sizes == (20, 22, 10)
    inbox.wait_scans()
    assert len(inbox.got) == 1


def test_scan_now_runs_a_rescan_and_a_missing_parent_is_a_config_error(
    make_inbox: Callable[..., Inbox], tmp_path: Path
) -> None:
    orphan = InboxWatcher(tmp_path / "unmounted" / "inbox", lambda candidate: None)
    with pytest.raises(ConfigError, match="unmounted"):
        orphan.start()
    assert not orphan.health().running

    inbox = make_inbox(rescan=NEVER)
    wait_for(lambda: inbox.watcher.health().scans == 1)
    inbox.watcher.scan_now()
    wait_for(lambda: inbox.watcher.health().scans == 2)
    health = inbox.watcher.health()
    assert health.running and health.last_scan_at is not None and health.errors == 0


def test_changed_content_is_delivered_again(make_inbox: Callable[..., Inbox]) -> None:
    inbox = make_inbox()
    target = inbox.path / "pano.jpg"
    target.write_bytes(b"first")
    wait_for(lambda: len(inbox.got) == 1)
    target.write_bytes(b"second version")
    wait_for(lambda: len(inbox.got) == 2)
    assert [sizes for _, sizes in inbox.got] == [(5,), (14,)]


def test_hidden_partial_and_symlinked_names_are_ignored(
    make_inbox: Callable[..., Inbox], tmp_path: Path
) -> None:
    inbox = make_inbox()
    ignored = [".hidden.jpg", "a.jpg.part", "b.TMP", "c.jpg.crdownload", "~lock.jpg", "d.jpg~"]
    for name in ignored:
        (inbox.path / name).write_bytes(b"p")
    (tmp_path / "secret.jpg").write_bytes(b"s")
    (inbox.path / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    (inbox.path / ".staging").mkdir()
    (inbox.path / ".staging" / "capture.json").write_text("{}")
    (inbox.path / "ok.jpg").write_bytes(b"k")
    wait_for(lambda: len(inbox.got) == 1)
    inbox.wait_scans(3)
    assert inbox.roots() == [inbox.path / "ok.jpg"]

    os.rename(inbox.path / "a.jpg.part", inbox.path / "a.jpg")  # the download finished
    wait_for(lambda: len(inbox.got) == 2)
    assert inbox.roots()[1] == inbox.path / "a.jpg"
    assert all(is_ignored_name(name) for name in ignored)
    assert not is_ignored_name("capture.json")


def test_failing_callback_is_logged_and_retried_at_the_next_rescan(
    make_inbox: Callable[..., Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Candidate] = []
    broken = threading.Event()
    broken.set()

    def flaky(candidate: Candidate) -> None:
        calls.append(candidate)
        for path in candidate.files:  # reading makes inotify events, as the real intake does
            path.read_bytes()
        if broken.is_set():
            raise OSError("bucket unreachable")

    inbox = make_inbox(on_candidate=flaky)
    with caplog.at_level(logging.ERROR, logger="ingest.watcher"):
        (inbox.path / "retry.jpg").write_bytes(b"r")
        wait_for(lambda: len(calls) == 1)
        inbox.wait_scans(3)
        broken.clear()
        wait_for(lambda: len(inbox.got) == 1)
    inbox.wait_scans()

    health = inbox.watcher.health()
    assert 3 <= health.errors <= 6  # retried once per rescan, not in a loop on its own events
    assert len(calls) == health.errors + 1 and health.candidates_delivered == 1
    assert health.last_error is not None and "retry.jpg" in health.last_error
    assert any("retry.jpg" in record.getMessage() for record in caplog.records)


def test_five_hundred_files_at_once_are_each_delivered_exactly_once(
    make_inbox: Callable[..., Inbox],
) -> None:
    inbox = make_inbox()
    names = [f"shot-{i:03d}.jpg" for i in range(500)]
    for name in names:
        (inbox.path / name).write_bytes(name.encode())

    wait_for(lambda: len(inbox.got) >= 500, timeout=3.0)
    inbox.wait_scans()
    assert sorted(root.name for root in inbox.roots()) == names


# Runs the watcher in a child process that the test freezes (SIGSTOP) while it floods the
# kernel's inotify queue, so the overflow is real and certain, not a race. Two of the child's
# threads report (the watcher's worker delivers, the main thread answers "health"): each line
# goes out in one write under one lock, so lines never interleave.
CHILD = """
import json, os, sys, threading
from pathlib import Path
from ingest.watcher import InboxWatcher

out = threading.Lock()

def say(**fields):
    line = (json.dumps(fields) + "\\n").encode()
    with out:
        os.write(1, line)

def deliver(candidate):
    say(root=str(candidate.root), sizes=[path.stat().st_size for path in candidate.files])

watcher = InboxWatcher(Path(sys.argv[1]), deliver, settle_seconds=0.3, rescan_seconds=3600)
watcher.start()
say(started=True)
for _ in sys.stdin:
    say(overflows=watcher.health().overflows)
watcher.stop()
"""


class Child:
    """The child watcher's JSON lines, read on a thread so waits can have a deadline.

    A line that is not one JSON object is kept in :attr:`garbled` (and fails the wait that
    is running) instead of killing the reader, so a broken line is reported, not a timeout.
    """

    def __init__(self, inbox: Path) -> None:
        repo = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(inbox)],
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        self._lines: list[dict[str, object]] = []
        self.garbled: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                line = None
            with self._lock:
                if isinstance(line, dict):
                    self._lines.append(line)
                else:
                    self.garbled.append(text)

    @property
    def lines(self) -> list[dict[str, object]]:
        with self._lock:
            assert not self.garbled, f"the child wrote lines that are not JSON: {self.garbled}"
            return list(self._lines)

    def delivered(self) -> dict[str, object]:
        return {str(line["root"]): line["sizes"] for line in self.lines if "root" in line}

    def overflows(self) -> int:
        assert self.proc.stdin is not None
        seen = len(self.lines)
        self.proc.stdin.write("health\n")
        self.proc.stdin.flush()
        wait_for(lambda: any("overflows" in line for line in self.lines[seen:]), 10.0, "health")
        count = next(line["overflows"] for line in self.lines[seen:] if "overflows" in line)
        assert isinstance(count, int)
        return count

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


def test_inotify_queue_overflow_is_counted_and_lost_events_are_recovered(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    inbox = inbox.resolve()  # the watcher reports resolved paths
    readers = [inbox / "a.jpg", inbox / "b.jpg"]
    for path in readers:
        path.write_bytes(b"r")
    child = Child(inbox)
    try:
        # Deadlines, not sleeps: the child imports and starts slowly on a busy machine.
        wait_for(lambda: len(child.delivered()) == 2, timeout=20.0, what="start-up deliveries")
        writer = (inbox / "held.jpg").open("wb")
        writer.write(b"h" * 100)
        writer.flush()
        time.sleep(0.2)  # let the child see the open before it is frozen

        os.kill(child.proc.pid, signal.SIGSTOP)
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        for i in range(limit):  # two events each; alternate files so none are merged
            os.close(os.open(readers[i % 2], os.O_RDONLY))
        writer.close()  # this close-after-write is lost: only the overflow can free the file
        (inbox / "late.jpg").write_bytes(b"l" * 7)  # lost too; no periodic rescan will run
        os.kill(child.proc.pid, signal.SIGCONT)

        wait_for(lambda: len(child.delivered()) == 4, timeout=10.0, what="recovered deliveries")
        assert child.delivered()[str(inbox / "held.jpg")] == [100]
        assert child.delivered()[str(inbox / "late.jpg")] == [7]
        assert child.overflows() == 1
        assert len(child.lines) == 6  # started, 4 deliveries, health: nothing twice
    finally:
        child.close()
