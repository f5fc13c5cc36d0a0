"""Folders without capture.json (a DSLR card, a rotating head): pending, then taken on quiet.

Real inotify and real files; a small ``folder_settle_seconds`` stands in for the default 120 s.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.candidates import Candidate
from ingest.watcher import InboxWatcher
from tests.support.waiting import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")

QUIET = 1.5


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[tuple[InboxWatcher, list[Candidate]]]:
    got: list[Candidate] = []
    lock = threading.Lock()

    def record(candidate: Candidate) -> None:
        with lock:
            got.append(candidate)

    watcher = InboxWatcher(tmp_path / "inbox", record, settle_seconds=0.2,
                           folder_settle_seconds=QUIET, rescan_seconds=0.2)  # fmt: skip
    watcher.start()
    yield watcher, got
    watcher.stop()


def _remaining(watcher: InboxWatcher, name: str) -> float | None:
    found = [w for w in watcher.health().waiting if w.folder == name]
    if not found:
        return None
    match = re.fullmatch(r"waiting for capture\.json, or (\d+) s more of quiet", found[0].message)
    assert match, found[0].message
    return found[0].remaining_seconds


def test_a_folder_without_capture_json_is_pending_then_taken_after_the_quiet(
    inbox: tuple[InboxWatcher, list[Candidate]],
) -> None:
    watcher, got = inbox
    folder = watcher.inbox / "dslr-card"
    folder.mkdir()
    for i in range(3):
        (folder / f"IMG_{i:04d}.JPG").write_bytes(bytes([i]) * 1000)
    started = time.monotonic()  # the last change

    def listed_whole() -> bool:
        waiting = watcher.health().waiting
        return bool(waiting) and waiting[0].files == 3

    wait_for(listed_whole, 2.0)
    first = _remaining(watcher, "dslr-card")
    assert first is not None and 0 < first <= QUIET
    assert got == []
    wait_for(lambda: len(got) == 1, QUIET + 3.0)
    waited = time.monotonic() - started
    assert waited >= QUIET - 0.3, f"taken after {waited:.2f} s, before the quiet"
    candidate = got[0]
    assert candidate.root == folder and candidate.is_folder
    assert [p.name for p in candidate.files] == ["IMG_0000.JPG", "IMG_0001.JPG", "IMG_0002.JPG"]
    assert candidate.note and "no capture.json" in candidate.note
    wait_for(lambda: watcher.health().waiting == (), 1.0)
    time.sleep(0.6)
    assert len(got) == 1, "taken once"


def test_a_file_still_arriving_keeps_the_folder_waiting(
    inbox: tuple[InboxWatcher, list[Candidate]],
) -> None:
    watcher, got = inbox
    folder = watcher.inbox / "rotating-head"
    folder.mkdir()
    (folder / "frame-01.jpg").write_bytes(b"1" * 100)
    with (folder / "frame-02.jpg").open("wb") as writer:  # a slow copy, held open
        deadline = time.monotonic() + QUIET + 1.0
        while time.monotonic() < deadline:
            writer.write(b"2" * 10)
            writer.flush()
            time.sleep(0.1)
        assert got == [], "taken while a file was still being written"
        assert _remaining(watcher, "rotating-head") is not None
    # After the close, a new quiet period starts: a new frame at QUIET/2 resets it again.
    time.sleep(QUIET / 2)
    (folder / "frame-03.jpg").write_bytes(b"3" * 100)
    added = time.monotonic()
    wait_for(lambda: len(got) == 1, QUIET + 3.0)
    assert time.monotonic() - added >= QUIET - 0.3
    assert [p.name for p in got[0].files] == ["frame-01.jpg", "frame-02.jpg", "frame-03.jpg"]


def test_an_empty_folder_is_not_a_capture(inbox: tuple[InboxWatcher, list[Candidate]]) -> None:
    watcher, got = inbox
    (watcher.inbox / "empty" / "sub").mkdir(parents=True)
    time.sleep(QUIET + 1.0)
    assert got == [] and watcher.health().waiting == ()
