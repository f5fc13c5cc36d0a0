"""Every bad input ends recorded with a reason, and raw/ holds no object without a capture.

The issue's battery, run through the real intake and pipeline (real Redis, local store):
an empty file, a truncated JPEG, a text file named .jpg, a decompression-bomb header, a
10,000-deep sidecar, a 2 MB sidecar, a non-UTF-8 sidecar and sidecar labels carrying an
XSS payload; plus the formats panodock names but does not read, and ``.insp``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from config.settings import Settings
from tests.support.pipeline import (
    Harness,
    file_candidate,
    folder_candidate,
    with_declared_size,
    write_folder,
)
from workers.state.ledger import FINAL, Capture, State

XSS = '"><img src=x onerror=alert(2)>'
PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def _battery(tmp_path: Path, jpeg: bytes) -> dict[str, tuple[Path, bool]]:
    """Name -> (path, is a folder) of every bad input, written under ``tmp_path/inbox``."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    singles = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "passwd.jpg": PASSWD,
        "bomb.jpg": with_declared_size(jpeg, 65000, 32500),
    }
    for name, data in singles.items():
        (inbox / name).write_bytes(data)
    folders = {
        "deep": b'{"notes": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        "huge-sidecar": json.dumps({"notes": "n" * 2_000_000}).encode(),
        "latin1": '{"room": "Büro 2"}'.encode("latin-1"),
        "xss": json.dumps(
            {
                "room": XSS,
                "floor": XSS,
                "points_of_interest": [
                    {"yaw_deg": 10, "pitch_deg": 0, "kind": "exit", "label": XSS}
                ],
            }
        ).encode(),
    }
    for name, body in folders.items():
        write_folder(inbox / name, {"pano.jpg": jpeg}, body)
    found = {name: (inbox / name, False) for name in singles}
    found.update({name: (inbox / name, True) for name in folders})
    return found


TEXT = rf"is not an image \(it is a text file, {len(PASSWD)} bytes\)"
EXPECTED = {  # name -> (final state, what the reason says after "<file name> ")
    "empty.jpg": (State.QUARANTINED, r"is empty \(0 bytes\)"),
    "truncated.jpg": (State.QUARANTINED, r"is truncated or corrupt"),
    "passwd.jpg": (State.QUARANTINED, TEXT),
    "bomb.jpg": (State.QUARANTINED, r"declares 65000x32500 pixels"),
    "deep": (State.QUARANTINED, r"nests objects or lists deeper than 64 levels"),
    "huge-sidecar": (State.QUARANTINED, r"is 2,000,\d{3} bytes, above the sidecar limit"),
    "latin1": (State.QUARANTINED, r"is not UTF-8 text"),
    "xss": (State.PUBLISHED, None),
}


def test_every_bad_input_ends_recorded_with_a_reason_and_raw_holds_no_orphan(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    captures: dict[str, Capture] = {}
    for name, (path, is_folder) in _battery(tmp_path, small_pano_jpeg).items():
        candidate = folder_candidate(path) if is_folder else file_candidate(path)
        captures[name] = harness.app.ledger.get(harness.ingest(candidate))
    harness.drain()

    ledger = harness.app.ledger
    for name, (state, reason) in EXPECTED.items():
        capture = ledger.get(captures[name].id)
        assert capture.state == state, (name, capture.reason)
        if reason is not None:
            shown = "capture.json" if "." not in name else name
            assert re.search(re.escape(shown) + " " + reason, capture.reason or ""), capture.reason
    every = [c for state in State for c in ledger.in_state(state, limit=1000)]
    assert {c.id for c in every} == {c.id for c in captures.values()}
    assert all(c.state in FINAL for c in every)
    assert all(c.reason for c in every if c.state != State.PUBLISHED)
    named = {f.key for c in every for f in c.files}
    archived = set(harness.store.list("raw/"))
    assert archived, "the battery archived nothing at all"
    assert archived <= named, f"objects under raw/ no capture names: {sorted(archived - named)}"


def test_a_text_files_reason_describes_it_and_quotes_none_of_it(
    settings: Settings, tmp_path: Path
) -> None:
    harness = Harness(settings)
    path = tmp_path / "notes.jpg"
    path.write_bytes(PASSWD)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    reason = harness.app.ledger.get(capture_id).reason or ""
    assert f"it is a text file, {len(PASSWD)} bytes" in reason
    for word in re.findall(rb"[a-z]{3,}", PASSWD):  # root, bash, daemon, sbin, nologin...
        assert word.decode() not in reason.replace("notes.jpg", ""), reason


MP4 = b"\x00\x00\x00\x18ftyp"
VIDEO = r"is not an image \(it is a video"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("IMG_1.heic", MP4 + b"heic" + bytes(64), r"is a HEIC image.*export it as JPEG"),
        ("pano.heif", MP4 + b"mif1" + bytes(64), r"is a HEIF image.*export it as JPEG"),
        ("spin.gif", b"GIF89a" + bytes(64), r"is a GIF image.*export it as JPEG"),
        ("VID_1.insv", MP4 + b"isom" + bytes(64), VIDEO),
        ("walk.mp4", MP4 + b"mp42" + bytes(64), VIDEO),
        ("walk.mov", b"\x00\x00\x00\x14ftypqt  " + bytes(64), VIDEO),
    ],
)
def test_formats_panodock_does_not_read_get_their_own_message(
    settings: Settings, tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    harness = Harness(settings)
    path = tmp_path / name
    path.write_bytes(data)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.QUARANTINED
    assert re.search(re.escape(name) + " " + reason, capture.reason or ""), capture.reason


def test_an_insp_photo_is_published_as_the_jpeg_it_is(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    # An Insta360 .insp: a JPEG with the vendor's trailer after the end-of-image marker.
    trailer = b"INSTA360 metadata " + bytes(range(256)) * 8 + b"8db42d694ccc418790edff439fe026bf"
    path = tmp_path / "IMG_20240301_101112_00_001.insp"
    path.write_bytes(small_pano_jpeg + trailer)
    harness = Harness(settings)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    harness.published(capture_id)


def test_an_insp_in_a_capture_folder_is_its_image(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    folder = write_folder(
        tmp_path / "room-1", {"IMG_1.insp": small_pano_jpeg + b"\x00INSP" * 100}, {"room": "1"}
    )
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    harness.published(capture_id)
