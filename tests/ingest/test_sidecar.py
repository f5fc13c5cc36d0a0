"""capture.json: strict validation, kept unknown fields, errors that say where."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.errors import QuarantineError
from ingest.sidecar import (
    SCHEMA_ID,
    PlanPosition,
    Sidecar,
    Wgs84Position,
    parse_sidecar,
    read_sidecar,
)

SHA_A = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA_B = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


@pytest.fixture
def document() -> dict[str, Any]:
    """A complete sidecar as a capture app would write it, plus fields panodock lacks."""
    return {
        "schema": SCHEMA_ID,
        "capture_id": "2024-03-01-a17",
        "files": [
            {"name": "pano.jpg", "sha256": SHA_A, "role": "equirect"},
            {"name": "raw/lens1.dng", "sha256": SHA_B, "role": None, "exposure_ev": -1},
        ],
        "captured_at": "2024-03-01T10:11:12+01:00",
        "device": "RICOH THETA Z1",
        "operator": "j.doe",
        "site": "north-campus",
        "building": "B",
        "floor": 2,
        "room": "2.14",
        "scene": "room_2-14",
        "position": {"frame": "wgs84", "lat": 52.5, "lon": 13.4, "accuracy_m": 4, "source": "gps"},
        "orientation": {"heading_deg": 93.5, "pitch_deg": 0.4, "roll_deg": -1.2},
        "sequence": {"route": "floor-2", "index": 14},
        "points_of_interest": [{"yaw_deg": 270, "pitch_deg": -5, "kind": "exit", "label": "Exit"}],
        "notes": "door was open",
        "app": {"name": "capture-app", "version": "3.1"},
    }


def _parse(document: dict[str, Any]) -> Sidecar:
    return parse_sidecar(json.dumps(document, indent=2).encode())


def _error(document: dict[str, Any]) -> str:
    with pytest.raises(QuarantineError) as caught:
        _parse(document)
    return str(caught.value)


def test_complete_sidecar(document: dict[str, Any]) -> None:
    sidecar = _parse(document)
    assert sidecar.schema_id == SCHEMA_ID
    assert [f.name for f in sidecar.files] == ["pano.jpg", "raw/lens1.dng"]
    plus_one = timezone(timedelta(hours=1))
    assert sidecar.captured_at == datetime(2024, 3, 1, 10, 11, 12, tzinfo=plus_one)
    assert sidecar.floor == "2"  # a label, even when written as a number
    assert sidecar.position == Wgs84Position(
        frame="wgs84", lat=52.5, lon=13.4, accuracy_m=4, source="gps"
    )
    assert sidecar.orientation is not None and sidecar.orientation.heading_deg == 93.5
    assert sidecar.points_of_interest[0].yaw_deg == -90.0  # 270 is kept in -180..180
    assert sidecar.file("pano.jpg") is sidecar.files[0] and sidecar.file("x.jpg") is None


def test_unknown_fields_are_kept(document: dict[str, Any]) -> None:
    sidecar = _parse(document)
    assert sidecar.model_extra == {"app": {"name": "capture-app", "version": "3.1"}}
    assert sidecar.files[1].model_extra == {"exposure_ev": -1}
    dumped = json.loads(sidecar.model_dump_json(by_alias=True))
    assert dumped["app"] == document["app"] and dumped["schema"] == SCHEMA_ID


def test_minimal_sidecar_with_bom() -> None:
    sidecar = parse_sidecar(b'\xef\xbb\xbf{"site": "gym"}')
    assert sidecar.site == "gym"
    assert sidecar.capture_id is None and sidecar.files == [] and sidecar.position is None


def test_site_and_scene_are_stored_lower_case(document: dict[str, Any]) -> None:
    # The one naming rule (config.names): the site `panodock site add-floor North-Campus`
    # registers is the site this capture is published into.
    document["site"], document["scene"] = "North-Campus", "Room_2-14"
    sidecar = _parse(document)
    assert (sidecar.site, sidecar.scene) == ("north-campus", "room_2-14")
    assert sidecar.building == "B", "building and floor are labels: their case is kept"


def test_plan_position(document: dict[str, Any]) -> None:
    document["position"] = {"frame": "plan", "x": 812, "y": 440.5}
    assert _parse(document).position == PlanPosition(frame="plan", x=812.0, y=440.5)


def test_json_syntax_error_names_line_and_column() -> None:
    data = b'{\n  "capture_id": "c",\n  "files": []\n  "notes": "x"\n}'
    expected = r"^capture\.json is not valid JSON: line 4 column 3: Expecting ','"
    with pytest.raises(QuarantineError, match=expected):
        parse_sidecar(data)


DROP = object()


def _edit(document: dict[str, Any], path: str, value: object) -> None:
    """Set (or with DROP, remove) the value at a dotted path such as ``files.1.sha256``."""
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
    target: Any = document
    for part in parents:
        target = target[part]
    if value is DROP:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("files.1.sha256", SHA_B.upper(), r"files\[1\]\.sha256: must be 64 hex digits"),
        ("files.0.sha256", SHA_A[:-1], r"files\[0\]\.sha256: must be 64 hex digits"),
        ("position.lat", "52.5", r"position\.lat: Input should be a valid number \(got '52.5'\)"),
        ("position.lat", 91, r"position\.lat: .*less than or equal to 90"),
        ("position.frame", "gps", r"position: frame 'gps' is not one of 'plan', 'local', 'wgs84'"),
        ("position.frame", DROP, r"position: needs a 'frame'"),
        ("orientation.pitch_deg", "abc", r"orientation\.pitch_deg: .*valid number"),
        ("orientation.roll_deg", True, r"orientation\.roll_deg: .*valid number"),
        ("orientation.heading_deg", -1, r"orientation\.heading_deg: .*greater than or equal to 0"),
        ("sequence.index", "14", r"sequence\.index: .*valid integer"),
        ("points_of_interest.0.kind", DROP, r"points_of_interest\[0\]\.kind: is required"),
        ("site", "north campus", r"site: use 1-100 letters, digits, '-' and '_' only"),
        ("scene", "raum-2.14", r"scene: use 1-100 letters"),
        ("capture_id", 42, r"capture_id: Input should be a valid string \(got 42\)"),
        ("files", {"name": "a.jpg"}, r"files: Input should be a valid array"),
        ("captured_at", "yesterday", r"captured_at: .*valid datetime"),
        ("schema", "panodock.sidecar/2", r"schema: .*'panodock.sidecar/1'"),
    ],
)
def test_invalid_fields_are_named(
    document: dict[str, Any], path: str, value: object, expected: str
) -> None:
    _edit(document, path, value)
    message = _error(document)
    assert message.startswith("capture.json: ")
    assert re.search(expected, message), message


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "/abs/pano.jpg", "a//b.jpg", "a\\b.jpg", "", "./a.jpg", "a\x00.jpg"]
)
def test_file_names_cannot_leave_the_capture_folder(document: dict[str, Any], name: str) -> None:
    document["files"][0]["name"] = name
    assert "files[0].name: must be a file name relative to the capture folder" in _error(document)


def test_a_file_listed_twice(document: dict[str, Any]) -> None:
    document["files"].append(copy.deepcopy(document["files"][0]))
    assert "files: 'pano.jpg' is listed twice" in _error(document)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", r"^capture\.json is empty: the capture app probably did not finish"),
        (b"  \n", r"^capture\.json is empty"),
        (b"[1, 2]", r"^capture\.json must hold a JSON object \{\.\.\.\}, not list"),
        (b'{"capture_id": NaN}', r"^capture\.json is not valid JSON: NaN is not a JSON number"),
        (b'{"a": 1, "a": 2}', r"^capture\.json is not valid JSON: key 'a' appears twice"),
        (b'{"capture_id": "\xff"}', r"^capture\.json is not UTF-8 text"),
    ],
)
def test_unusable_files(data: bytes, expected: str) -> None:
    with pytest.raises(QuarantineError, match=expected):
        parse_sidecar(data)


def test_many_errors_are_summarised(document: dict[str, Any]) -> None:
    for file in document["files"]:
        file["sha256"] = "x"
    document["site"] = "a b"
    document["scene"] = "c d"
    message = _error(document)
    assert message.count("; ") == 3 and message.endswith("and 1 more problem")


@settings(max_examples=40, deadline=None, database=None)
@given(
    heading=st.floats(0, 360, exclude_max=True),
    pitch=st.floats(-90, 90),
    yaw=st.floats(-180, 180, exclude_max=True),
    slug=st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
)
def test_round_trip(heading: float, pitch: float, yaw: float, slug: str) -> None:
    original = parse_sidecar(
        json.dumps(
            {
                "capture_id": "c",
                "site": slug,
                "files": [{"name": f"{slug}.jpg", "sha256": SHA_A}],
                "orientation": {"heading_deg": heading, "pitch_deg": pitch},
                "points_of_interest": [{"yaw_deg": yaw, "pitch_deg": pitch, "kind": "info"}],
            }
        ).encode()
    )
    again = parse_sidecar(original.model_dump_json(by_alias=True, exclude_none=True).encode())
    assert again == original
    # The same direction: yaw is kept in [-180, 180), so 179.99999999999997 may come back as
    # -180.0 after float rounding; compare on the circle.
    turned = (again.points_of_interest[0].yaw_deg - yaw + 180.0) % 360.0 - 180.0
    assert turned == pytest.approx(0.0, abs=1e-9)


def test_a_rig_programme_gives_every_position_its_pose() -> None:
    rig = parse_sidecar(
        json.dumps(
            {
                "rig": {
                    "rows": [
                        {"pitch_deg": 0, "count": 4},
                        {"pitch_deg": 45, "count": 3, "yaw_start_deg": 30},
                        {"pitch_deg": 90, "count": 1},
                    ]
                }
            }
        ).encode()
    ).rig
    assert rig is not None
    assert rig.poses() == [
        (0.0, 0.0),
        (90.0, 0.0),
        (180.0, 0.0),
        (270.0, 0.0),
        (30.0, 45.0),
        (150.0, 45.0),
        (270.0, 45.0),
        (0.0, 90.0),
    ]


@pytest.mark.parametrize(
    ("rig", "expected"),
    [
        ({"yaw_step_deg": 30, "rows": [{"pitch_deg": 0, "count": 12}]}, r"rig: .*not both"),
        ({"rows": [{"pitch_deg": 100, "count": 6}]}, r"rig\.rows\[0\]\.pitch_deg: .*90"),
        ({"rows": [{"pitch_deg": 0, "count": 0}]}, r"rig\.rows\[0\]\.count: .*greater than"),
    ],
)
def test_a_bad_rig_programme_is_named(rig: dict[str, Any], expected: str) -> None:
    message = _error({"rig": rig})
    assert re.search(expected, message), message


@pytest.mark.parametrize(
    "body",
    [
        b'{"notes": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",  # RecursionError in json before
        b'{"a": ' * 10_000 + b"1" + b"}" * 10_000,
        b"[" * 100_000,  # not even closed
    ],
)
def test_a_deeply_nested_sidecar_is_quarantined_not_a_recursion_error(body: bytes) -> None:
    with pytest.raises(QuarantineError, match=r"^capture\.json nests .* deeper than 64 levels"):
        parse_sidecar(body)


def test_nesting_is_counted_outside_strings_only_and_64_levels_parse() -> None:
    brackets = '"[[[{{{\\"]]]"'
    sidecar = parse_sidecar(f'{{"notes": {brackets}, "x": {"[" * 63}{"]" * 63}}}'.encode())
    assert sidecar.notes == '[[[{{{"]]]'
    with pytest.raises(QuarantineError, match="deeper than 64"):
        parse_sidecar(f'{{"x": {"[" * 64}{"]" * 64}}}'.encode())


def test_a_sidecar_above_one_mib_is_refused_by_its_size(tmp_path: Path) -> None:
    body = json.dumps({"notes": "n" * 2_000_000}).encode()
    with pytest.raises(QuarantineError, match=r"is 2,000,013 bytes, above the sidecar limit"):
        parse_sidecar(body)
    path = tmp_path / "capture.json"
    path.write_bytes(body)
    with pytest.raises(QuarantineError, match=r"^capture\.json is 2,000,013 bytes"):
        read_sidecar(path)


def test_any_other_parser_failure_becomes_a_quarantine_error() -> None:
    # Python's int() refuses more than 4300 digits with a ValueError of its own.
    with pytest.raises(QuarantineError, match=r"^capture\.json"):
        parse_sidecar(b'{"notes": "x", "big": ' + b"9" * 5000 + b"}")
