"""The capture app's sidecar, ``capture.json``: what was captured, where, by whom.

The capture app writes it last, so for a folder it doubles as the "complete" marker.
It is validated strictly: numbers must be JSON numbers (``"12"`` or ``"abc"`` is not
turned into one), slugs and hashes must have their exact shape, and any error names its
location (``files[1].sha256``). ``site`` and ``scene`` follow the one naming rule
(:mod:`config.names`): written in any case, stored lower-case (``"North-Campus"`` is site
``north-campus``, the site ``panodock site add-floor North-Campus`` registers). Fields
panodock does not know yet are kept, not refused, so a newer capture app can add some
without breaking older workers.

An example::

    {
      "schema": "panodock.sidecar/1",
      "capture_id": "2024-03-01-a17",
      "files": [{"name": "pano.jpg", "sha256": "9f86d0…", "role": "equirect"}],
      "captured_at": "2024-03-01T10:11:12+01:00",
      "site": "north-campus", "building": "B", "floor": "2", "room": "2.14",
      "scene": "room-2-14",
      "position": {"frame": "plan", "x": 812.5, "y": 440, "source": "tapped on plan"},
      "orientation": {"heading_deg": 93.5, "pitch_deg": 0.4, "roll_deg": -1.2},
      "sequence": {"route": "floor-2", "index": 14},
      "points_of_interest": [{"yaw_deg": -30, "pitch_deg": -5, "kind": "exit", "label": "Exit"}]
    }
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from config.errors import QuarantineError
from config.names import Slug
from ingest.sidecar_limits import MAX_SIDECAR_BYTES, check_limits, sidecar_too_large

SCHEMA_ID: Final = "panodock.sidecar/1"
SIDECAR_NAME: Final = "capture.json"

_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_POSITION_FRAMES: Final = ("plan", "local", "wgs84")
_MAX_ERRORS_SHOWN: Final = 3


def _sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise ValueError("must be 64 hex digits, lowercase")
    return value


def _relative_file_name(value: str) -> str:
    # Names become object keys and paths on the worker: no escaping the capture folder.
    parts = value.split("/")
    if (
        not value
        or len(value) > 255
        or any(part in ("", ".", "..") for part in parts)
        or "\\" in value
        or any(ord(char) < 32 for char in value)
    ):
        raise ValueError("must be a file name relative to the capture folder, e.g. 'pano.jpg'")
    return value


def _number_as_label(value: object) -> object:
    # A floor or room "2" is often written as the number 2; a label, so keep it as text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# The validator checks the pattern (so the message reads well); json_schema_extra only
# documents it in the JSON Schema for front-end teams.
Sha256 = Annotated[
    str, AfterValidator(_sha256), Field(json_schema_extra={"pattern": f"^{_SHA256.pattern}$"})
]
Label = Annotated[str, BeforeValidator(_number_as_label), Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    """Strict types, unknown fields kept."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)


class SidecarFile(_Strict):
    """One file of the capture, as the capture app wrote it."""

    name: Annotated[str, AfterValidator(_relative_file_name)] = Field(
        description="Path relative to the capture folder, '/'-separated."
    )
    sha256: Sha256 = Field(description="SHA-256 of the file, 64 lowercase hex digits.")
    role: str | None = Field(
        None, description="What the file is, e.g. 'equirect', 'fisheye', 'bracket'."
    )


class PlanPosition(_Strict):
    """Where the camera stood, in pixels of the floor plan (x right, y down)."""

    frame: Literal["plan"]
    x: float = Field(ge=0, description="Plan pixels from the left edge.")
    y: float = Field(ge=0, description="Plan pixels from the top edge.")
    source: str | None = Field(None, description="How the position was obtained.")


class LocalPosition(_Strict):
    """Where the camera stood, in metres of the floor's local frame."""

    frame: Literal["local"]
    x_m: float
    y_m: float
    source: str | None = Field(None, description="How the position was obtained.")


class Wgs84Position(_Strict):
    """Where the camera stood, as WGS84 latitude/longitude."""

    frame: Literal["wgs84"]
    lat: float = Field(ge=-90, le=90, description="Degrees, north positive.")
    lon: float = Field(ge=-180, le=180, description="Degrees, east positive.")
    accuracy_m: float | None = Field(None, ge=0, description="Horizontal accuracy, metres.")
    source: str | None = Field(None, description="How the position was obtained.")


Position = Annotated[PlanPosition | LocalPosition | Wgs84Position, Field(discriminator="frame")]


class Orientation(_Strict):
    """How the camera was turned; every angle in degrees."""

    heading_deg: float | None = Field(
        None, ge=0, le=360, description="Heading of the image centre, clockwise from true north."
    )
    pitch_deg: float | None = Field(None, ge=-90, le=90)
    roll_deg: float | None = Field(None, ge=-180, le=180)

    @field_validator("heading_deg")
    @classmethod
    def _north_is_zero(cls, value: float | None) -> float | None:
        return None if value is None else value % 360.0


class Sequence(_Strict):
    """Place of the capture along a walked route."""

    route: str = Field(min_length=1, max_length=200)
    index: int = Field(ge=0)


class RigRow(_Strict):
    """One row of a rotating head's programme: ``count`` positions round at one pitch."""

    pitch_deg: float = Field(ge=-90, le=90, description="Tilt of the row, positive up.")
    count: int = Field(ge=1, le=72, description="Positions in the row (1 for zenith or nadir).")
    yaw_start_deg: float = Field(
        0.0, ge=-360, le=360, description="Yaw of the row's first position, positive right."
    )
    yaw_step_deg: float | None = Field(
        None, gt=0, le=360, description="Yaw between positions; default 360 / count."
    )


class Rig(_Strict):
    """How a multi-shot set was taken on a rotating head."""

    yaw_step_deg: float | None = Field(
        None, gt=0, le=180, description="Yaw between positions, if the head turns evenly."
    )
    brackets: int = Field(1, ge=1, le=9, description="Exposures per position (fused first).")
    rows: list[RigRow] = Field(
        default_factory=list,
        max_length=16,
        description="The head's programme, in shooting order; frames that cannot be matched "
        "are then placed from it.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Rig:
        if self.rows and self.yaw_step_deg is not None:
            raise ValueError("give either yaw_step_deg or rows, not both")
        return self

    def poses(self) -> list[tuple[float, float]] | None:
        """(yaw, pitch) in degrees of every position, in shooting order; None without rows."""
        if not self.rows:
            return None
        out: list[tuple[float, float]] = []
        for row in self.rows:
            step = row.yaw_step_deg or 360.0 / row.count
            out.extend((row.yaw_start_deg + k * step, row.pitch_deg) for k in range(row.count))
        return out


class BlurRegion(_Strict):
    """A region to blur that the face detector may miss, in the published (levelled) scene."""

    yaw_deg: float = Field(ge=-180, le=180, description="Centre, positive to the right.")
    pitch_deg: float = Field(ge=-90, le=90, description="Centre, positive up.")
    width_deg: float = Field(gt=0, le=180)
    height_deg: float = Field(gt=0, le=180)


class AttachmentRef(_Strict):
    """A PDF or image of the folder for the map; in 'files' with role 'attachment'."""

    file: Annotated[str, AfterValidator(_relative_file_name)]
    title: str = Field(min_length=1, max_length=200)


class PointOfInterest(_Strict):
    """Something to mark in the panorama; angles in degrees from the image centre."""

    yaw_deg: float = Field(ge=-360, le=360, description="Positive to the right; kept in -180..180.")
    pitch_deg: float = Field(ge=-90, le=90, description="Positive up.")
    kind: str = Field(min_length=1, max_length=100, description="e.g. 'exit', 'info', 'hazard'.")
    label: str | None = Field(None, max_length=500)
    id: Slug | None = Field(None, description="The same thing in other captures: triangulated.")
    number: Label | None = Field(None, description="Door, stairwell or room number, as written.")
    position: Position | None = Field(None, description="Where it is, if the app knows.")
    notes: str | None = Field(None, max_length=5000)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)

    @field_validator("yaw_deg")
    @classmethod
    def _wrap_yaw(cls, value: float) -> float:
        return (value + 180.0) % 360.0 - 180.0


class Sidecar(_Strict):
    """``capture.json`` as validated; unknown fields stay in ``model_extra``.

    Every field is optional (the app "may carry" each), but one that is present must be
    valid.
    """

    model_config = ConfigDict(populate_by_name=True)

    schema_id: Literal["panodock.sidecar/1"] | None = Field(
        None, alias="schema", description=f"'{SCHEMA_ID}' when the app states it."
    )
    capture_id: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$", description="App's id."
    )
    files: list[SidecarFile] = Field(
        default_factory=list, description="The capture's files; a folder's sidecar lists them all."
    )
    captured_at: datetime | None = Field(None, description="ISO 8601, with a UTC offset ideally.")
    device: str | None = Field(None, description="Camera, e.g. 'RICOH THETA Z1'.")
    operator: str | None = None
    site: Slug | None = None
    building: Label | None = None
    floor: Label | None = None
    room: Label | None = None
    scene: Slug | None = Field(None, description="Scene slug; default derived from the folder.")
    position: Position | None = None
    orientation: Orientation | None = None
    sequence: Sequence | None = None
    kind: Literal["equirect", "dual_fisheye", "multishot"] | None = Field(
        None, description="What the images are; default: recognised from the images."
    )
    rig: Rig | None = None
    brackets: int | None = Field(
        None,
        ge=1,
        le=9,
        description="The images are this many exposures of one position (HDR brackets), "
        "lined up and fused before tiling; 1: not bracketed. Default: recognised from the "
        "EXIF exposures of same-size images. A rotating head's brackets go in rig.brackets.",
    )
    blur_regions: list[BlurRegion] = Field(
        default_factory=list, description="Extra regions to blur (faces the detector misses)."
    )
    points_of_interest: list[PointOfInterest] = Field(default_factory=list)
    notes: str | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)

    @field_validator("files")
    @classmethod
    def _names_unique(cls, files: list[SidecarFile]) -> list[SidecarFile]:
        seen: set[str] = set()
        for file in files:
            if file.name in seen:
                raise ValueError(f"{file.name!r} is listed twice")
            seen.add(file.name)
        return files

    def file(self, name: str) -> SidecarFile | None:
        """The entry for ``name``, or None when the sidecar does not list it."""
        return next((f for f in self.files if f.name == name), None)


def read_sidecar(path: Path) -> Sidecar:
    """Read and parse a sidecar file, refusing one above :data:`MAX_SIDECAR_BYTES` unread.

    Raises
    ------
    QuarantineError
        As :func:`parse_sidecar`, or the file is too large.
    """
    size = path.stat().st_size
    if size > MAX_SIDECAR_BYTES:
        raise sidecar_too_large(path.name, size)
    with path.open("rb") as handle:
        data = handle.read(MAX_SIDECAR_BYTES + 1)  # it may have grown since the stat
    return parse_sidecar(data, name=path.name)


def parse_sidecar(data: bytes, *, name: str = SIDECAR_NAME) -> Sidecar:
    """Parse and validate a capture sidecar.

    Parameters
    ----------
    data:
        The file's contents: UTF-8 JSON, a BOM tolerated.
    name:
        File name used in error messages.

    Returns
    -------
    Sidecar
        The validated sidecar; unknown fields are kept in ``model_extra``.

    Raises
    ------
    QuarantineError
        The file is empty, larger than :data:`MAX_SIDECAR_BYTES`, nested deeper than
        :data:`MAX_SIDECAR_DEPTH`, not UTF-8 JSON, not an object, or a field is invalid; the
        message names the problem and where it is, e.g.
        ``"capture.json: files[1].sha256: must be 64 hex digits, lowercase (got 'AB12')"``.
        Any other failure of the parser is turned into one too: a sidecar never escapes as
        another exception.
    """
    check_limits(data, name)
    if not data.strip():
        raise QuarantineError(
            f"{name} is empty: the capture app probably did not finish writing it; "
            "copy the capture again"
        )
    text = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return _parse(text, name)
    except QuarantineError:
        raise
    except RecursionError as exc:  # the depth check should make this unreachable
        raise QuarantineError(f"{name} is nested too deeply to parse") from exc
    except Exception as exc:  # a parser bug must not leave the capture unrecorded
        raise QuarantineError(
            f"{name} could not be parsed ({type(exc).__name__}); check what wrote it"
        ) from exc


def _parse(text: bytes, name: str) -> Sidecar:
    try:
        document = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants
        )
    except json.JSONDecodeError as exc:
        raise QuarantineError(
            f"{name} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise QuarantineError(
            f"{name} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from exc
    except ValueError as exc:
        raise QuarantineError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise QuarantineError(
            f"{name} must hold a JSON object {{...}}, not {type(document).__name__}"
        )
    try:
        return Sidecar.model_validate_json(text)
    except ValidationError as exc:
        raise QuarantineError(_describe(name, exc)) from exc


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"key {key!r} appears twice in one object")
        document[key] = value
    return document


def _no_constants(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _describe(name: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{_location(error)}: {_message(error)}" for error in errors[:_MAX_ERRORS_SHOWN]]
    more = len(errors) - _MAX_ERRORS_SHOWN
    if more > 0:
        parts.append(f"and {more} more problem{'s' if more > 1 else ''}")
    return f"{name}: " + "; ".join(parts)


def _location(error: ErrorDetails) -> str:
    """``('files', 1, 'sha256')`` -> ``files[1].sha256``; union tags are left out."""
    path = ""
    previous: object = None
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif previous == "position" and part in _POSITION_FRAMES:
            pass  # pydantic names the matched union member; the JSON has no such level
        else:
            path += f".{part}" if path else str(part)
        previous = part
    return path or "(top level)"


def _message(error: ErrorDetails) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return f"frame {tag!r} is not one of " + ", ".join(repr(f) for f in _POSITION_FRAMES)
    if kind == "union_tag_not_found":
        return "needs a 'frame': one of " + ", ".join(repr(f) for f in _POSITION_FRAMES)
    message = message.removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, (str, int, float, bool)) or given is None:
        if isinstance(given, float) and not math.isfinite(given):
            return message
        if isinstance(given, str) and len(given) > 40:
            given = given[:40] + "…"
        return f"{message} (got {given!r})"
    return message
