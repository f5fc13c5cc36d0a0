"""A slow network copy (open, append, close, every tick) becomes one capture, complete."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from config.settings import Settings
from ingest.watcher import InboxWatcher
from tests.support.pipeline import Harness
from tests.support.waiting import wait_for
from workers.state.ledger import State

TICK = 0.5
SETTLE = 1.0  # longer than a tick, as the default 2 s is longer than a 1 s copy tick
CHUNKS = 8  # 4 s of writing


def test_an_open_append_close_writer_yields_one_capture_of_the_complete_file(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    inbox = tmp_path / "inbox"
    watcher = InboxWatcher(inbox, harness.intake, settle_seconds=SETTLE, rescan_seconds=0.3)
    watcher.start()
    target = watcher.inbox / "lobby.jpg"
    step = -(-len(small_pano_jpeg) // CHUNKS)

    def slow_copy() -> None:
        for start in range(0, len(small_pano_jpeg), step):
            with target.open("ab") as out:  # every tick a close-after-write event
                out.write(small_pano_jpeg[start : start + step])
            time.sleep(TICK)

    writer = threading.Thread(target=slow_copy)
    try:
        writer.start()
        writer.join()
        wait_for(lambda: watcher.health().candidates_delivered >= 1, timeout=SETTLE + 3)
        time.sleep(SETTLE)  # a second delivery would come within this
    finally:
        watcher.stop()
    ledger = harness.app.ledger
    captures = [c for state in State for c in ledger.in_state(state, limit=100)]
    assert len(captures) == 1, [(c.state, c.files[0].size if c.files else 0) for c in captures]
    [capture] = captures
    assert [f.size for f in capture.files] == [len(small_pano_jpeg)]
    assert len(list(harness.store.list("raw/"))) == 1
    harness.drain()
    harness.published(capture.id)
