"""Structured logs: JSON lines with the capture id and stage where known."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from workers.ops.logs import log_context, set_stage, setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_capture_and_stage(restore_root: None) -> None:
    out = io.StringIO()  # not a terminal: JSON by default
    setup_logging("INFO", stream=out)
    log = logging.getLogger("panodock.test")
    log.info("outside")
    with log_context(capture_id="7f3a9c", stage="metadata"):
        log.info("reading %s", "exif")
        set_stage("tiles")
        log.warning("slow")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["message"], r["capture_id"], r["stage"]) for r in lines] == [
        ("outside", None, None),
        ("reading exif", "7f3a9c", "metadata"),
        ("slow", "7f3a9c", "tiles"),
    ]
    assert lines[2]["level"] == "WARNING" and lines[2]["time"].endswith("+00:00")


def test_a_terminal_gets_human_lines(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("INFO", stream=out, json_lines=False)
    with log_context(capture_id="abcdef1234567890", stage="publish"):
        logging.getLogger("panodock.test").info("done")
    line = out.getvalue().strip()
    assert line.endswith("panodock.test: done [abcdef123456/publish]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_job_does_not_leave_its_stage_on_the_thread(
    restore_root: None, settings: object, tmp_path: object, small_pano_jpeg: bytes
) -> None:
    from pathlib import Path

    from tests.support.pipeline import Harness, file_candidate

    harness = Harness(settings)  # type: ignore[arg-type]
    path = Path(str(tmp_path)) / "a.jpg"
    path.write_bytes(small_pano_jpeg)
    harness.ingest(file_candidate(path))
    harness.drain()  # runs the pipeline on this thread, through every stage
    out = io.StringIO()
    setup_logging("INFO", stream=out)
    logging.getLogger("panodock.test").info("after the job")
    line = json.loads(out.getvalue().splitlines()[-1])
    assert (line["capture_id"], line["stage"]) == (None, None)
