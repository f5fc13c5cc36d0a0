"""Camera metadata of an image: EXIF make, model, capture time and GPS, plus XMP GPano.

EXIF is read with exifread. exifread gives up on a JPEG whose earlier APP segments
(vendor blocks, a big XMP packet) push the EXIF segment past the first ~4 KB it looks
at, and then returns no tags at all; libvips finds the EXIF block anywhere, so in that
case exifread is run again on the block libvips extracted.

Metadata is a hint, not a requirement: nothing here raises for broken metadata. Every
value that is dropped leaves a warning saying why, in words a field technician can act
on. Warnings may be published (scene.json), so they never quote a plausible position.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Final, Literal

import exifread
import pyvips
from pydantic import BaseModel, ConfigDict, Field

from ingest.gpano import GPano, fit_to_image, read_gpano
from ingest.image import sniff_format

# Below the Dead Sea shore or far above any building: a corrupt value, not a capture.
_ALTITUDE_RANGE_M: Final = (-1000.0, 10000.0)
_DATETIME: Final = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET: Final = re.compile(r"([+-])(\d{2}):(\d{2})")


class GpsFix(BaseModel):
    """A validated EXIF GPS position (WGS84)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(ge=-90, le=90, description="Latitude in degrees, north positive.")
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees, east positive.")
    altitude_m: float | None = Field(None, description="Metres above sea level.")
    dop: float | None = Field(None, gt=0, description="Dilution of precision (GPSDOP).")
    accuracy_m: float | None = Field(
        None, ge=0, description="Horizontal positioning error in metres (GPSHPositioningError)."
    )
    img_direction_deg: float | None = Field(
        None, ge=0, lt=360, description="Direction the camera faced, clockwise from north."
    )
    img_direction_ref: Literal["true", "magnetic"] | None = Field(
        None, description="North that img_direction_deg is measured from."
    )


class ImageMetadata(BaseModel):
    """What the camera wrote about an image, validated; problems are in ``warnings``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    make: str | None = None
    model: str | None = None
    datetime_original: datetime | None = Field(
        None, description="EXIF DateTimeOriginal; timezone-aware only if OffsetTimeOriginal is set."
    )
    gps: GpsFix | None = None
    gpano: GPano | None = Field(
        None, description="GPano fields, pixel fields fitted to the image's real size."
    )
    exposure_time_s: float | None = Field(None, gt=0, description="EXIF ExposureTime, seconds.")
    exposure_bias_ev: float | None = Field(None, description="EXIF ExposureBiasValue, EV.")
    warnings: list[str] = Field(default_factory=list)


def read_metadata(data: bytes) -> ImageMetadata:
    """EXIF and GPano metadata of an image.

    Parameters
    ----------
    data:
        The file's contents (JPEG, TIFF or PNG; anything else yields empty metadata).

    Returns
    -------
    ImageMetadata
        Validated fields; a value that is missing, broken or impossible is None and, if
        it was present but unusable, explained in ``warnings``. Never raises.
    """
    warnings: list[str] = []
    header = _Header(data)
    tags = _exif_tags(data, header, warnings)
    taken = _datetime_original(tags, warnings)
    gps = _gps_fix(tags, warnings)
    gpano, gpano_warnings = read_gpano(data)
    warnings += gpano_warnings
    size = header.size() if gpano is not None else None
    if gpano is not None and size is not None:
        gpano, fit_warnings = fit_to_image(gpano, width=size[0], height=size[1])
        warnings += fit_warnings
    return ImageMetadata(
        make=_text(tags.get("Image Make")),
        model=_text(tags.get("Image Model")),
        datetime_original=taken,
        gps=gps,
        gpano=gpano,
        exposure_time_s=_exposure_time(tags.get("EXIF ExposureTime")),
        exposure_bias_ev=_exposure_bias(tags.get("EXIF ExposureBiasValue")),
        warnings=warnings,
    )


class _Header:
    """The libvips header of the image, opened at most once and only if needed."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._image: pyvips.Image | None = None
        self._opened = False

    def image(self) -> pyvips.Image | None:
        if not self._opened:
            self._opened = True
            if sniff_format(self._data) is not None:
                try:
                    self._image = pyvips.Image.new_from_buffer(self._data, "")
                except pyvips.Error:
                    self._image = None
        return self._image

    def size(self) -> tuple[int, int] | None:
        image = self.image()
        return None if image is None else (image.width, image.height)

    def exif_block(self) -> bytes | None:
        image = self.image()
        if image is None or image.get_typeof("exif-data") == 0:
            return None
        block: bytes = image.get("exif-data")
        return block.removeprefix(b"Exif\x00\x00")


def _exif_tags(data: bytes, header: _Header, warnings: list[str]) -> dict[str, Any]:
    tags = _run_exifread(data, warnings)
    if not tags:
        block = header.exif_block()
        if block:
            tags = _run_exifread(block, warnings)
    return tags


class _Silencer:
    """Silences exifread's logger, which warns about every odd file, while any thread
    is inside a call; the logger's own setting is restored when the last one leaves."""

    def __init__(self, logger_name: str) -> None:
        self._logger = logging.getLogger(logger_name)
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._saved = self._logger.disabled
                self._logger.disabled = True
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._logger.disabled = self._saved


_quiet_exifread = _Silencer("exifread")


def _run_exifread(data: bytes, warnings: list[str]) -> dict[str, Any]:
    with _quiet_exifread():
        try:
            tags: dict[str, Any] = exifread.process_file(
                io.BytesIO(data), details=False, extract_thumbnail=False
            )
        # exifread parses untrusted bytes; whatever it trips over, metadata stays a hint.
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:200]
            warnings.append(f"EXIF block is unreadable ({reason}); ignoring it")
            return {}
    return tags


def _text(tag: Any) -> str | None:
    if tag is None:
        return None
    values = getattr(tag, "values", tag)
    text = values if isinstance(values, str) else str(getattr(tag, "printable", values))
    text = text.replace("\x00", " ").strip()
    return text or None


def _datetime_original(tags: Mapping[str, Any], warnings: list[str]) -> datetime | None:
    raw = _text(tags.get("EXIF DateTimeOriginal"))
    if raw is None:
        return None
    match = _DATETIME.match(raw)
    try:
        if match is None:
            raise ValueError(raw)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        stamp = datetime(year, month, day, hour, minute, second)
    except ValueError:
        warnings.append(
            f"DateTimeOriginal {_shown(raw)} is not a date (camera clock not set?); ignoring it"
        )
        return None
    subsec = _text(tags.get("EXIF SubSecTimeOriginal"))
    if subsec is not None and subsec.isdigit():
        stamp = stamp.replace(microsecond=int(subsec[:6].ljust(6, "0")))
    offset = _text(tags.get("EXIF OffsetTimeOriginal"))
    if offset is not None:
        zone = _OFFSET.fullmatch(offset)
        if zone is None or int(zone[2]) > 14 or int(zone[3]) > 59:
            warnings.append(f"OffsetTimeOriginal {_shown(offset)} is not a UTC offset; ignoring it")
        else:
            minutes = int(zone[2]) * 60 + int(zone[3])
            sign = -1 if zone[1] == "-" else 1
            stamp = stamp.replace(tzinfo=timezone(timedelta(minutes=sign * minutes)))
    return stamp


def _gps_fix(tags: Mapping[str, Any], warnings: list[str]) -> GpsFix | None:
    gps = {key[4:]: value for key, value in tags.items() if key.startswith("GPS ")}
    if not gps:
        if "Image GPSInfo" in tags:
            warnings.append("the EXIF GPS block is empty; no GPS position")
        return None
    if "GPSLatitude" not in gps and "GPSLongitude" not in gps:
        warnings.append("the EXIF GPS block has no latitude or longitude; no GPS position")
        return None
    if (_text(gps.get("GPSStatus")) or "").upper() == "V":
        warnings.append(
            "GPS status is V (no satellite fix when the photo was taken); ignoring the GPS fix"
        )
        return None
    lat = _coordinate(gps, "latitude", ("N", "S"), 90.0, warnings)
    lon = _coordinate(gps, "longitude", ("E", "W"), 180.0, warnings)
    if lat is None or lon is None:
        return None
    if lat == 0.0 and lon == 0.0:
        warnings.append(
            "GPS position 0°, 0° is a placeholder written without a satellite fix; "
            "ignoring the GPS fix"
        )
        return None
    direction, direction_ref = _img_direction(gps, warnings)
    return GpsFix(
        lat=lat,
        lon=lon,
        altitude_m=_altitude(gps, warnings),
        dop=_positive(gps.get("GPSDOP"), "GPS DOP", warnings),
        accuracy_m=_positive(
            gps.get("GPSHPositioningError", gps.get("Tag 0x001F")),
            "GPS horizontal positioning error",
            warnings,
        ),
        img_direction_deg=direction,
        img_direction_ref=direction_ref,
    )


def _coordinate(
    gps: Mapping[str, Any],
    axis: Literal["latitude", "longitude"],
    refs: tuple[str, str],
    limit: float,
    warnings: list[str],
) -> float | None:
    """Signed decimal degrees from degrees/minutes/seconds and an N/S or E/W letter."""
    key = "GPSLatitude" if axis == "latitude" else "GPSLongitude"
    label = f"GPS {axis}"
    skip = "ignoring the GPS fix"
    if key not in gps:
        warnings.append(f"{label} is missing; {skip}")
        return None
    parts = _numbers(gps[key])
    if parts is None or not 1 <= len(parts) <= 3:
        warnings.append(f"{label} is not stored as degrees, minutes, seconds; {skip}")
        return None
    if any(part is None for part in parts):
        warnings.append(f"{label} has a value that is not a number (zero denominator); {skip}")
        return None
    numbers = [part for part in parts if part is not None]
    if any(part < 0 for part in numbers):
        warnings.append(f"{label} has a negative degrees/minutes/seconds part; {skip}")
        return None
    degrees = sum(part / 60**index for index, part in enumerate(numbers))
    if degrees > limit:
        warnings.append(f"{label} {degrees:.1f}° is impossible; {skip}")
        return None
    ref = (_text(gps.get(key + "Ref")) or "").upper()
    if ref not in refs:
        found = f"is {_shown(ref)}" if ref else "is missing"
        warnings.append(f"{label} reference {found}, not {refs[0]} or {refs[1]}; {skip}")
        return None
    return -degrees if ref == refs[1] else degrees


def _altitude(gps: Mapping[str, Any], warnings: list[str]) -> float | None:
    if "GPSAltitude" not in gps:
        return None
    parts = _numbers(gps["GPSAltitude"])
    if not parts or parts[0] is None:
        printable = _text(gps["GPSAltitude"])
        warnings.append(f"GPS altitude {printable} is not a number; ignoring the altitude")
        return None
    below = (_numbers(gps.get("GPSAltitudeRef")) or [None])[0] == 1
    altitude = -parts[0] if below else parts[0]
    low, high = _ALTITUDE_RANGE_M
    if not low < altitude < high:
        warnings.append(f"GPS altitude {altitude:.0f} m is implausible; ignoring the altitude")
        return None
    return altitude


def _img_direction(
    gps: Mapping[str, Any], warnings: list[str]
) -> tuple[float | None, Literal["true", "magnetic"] | None]:
    if "GPSImgDirection" not in gps:
        return None, None
    parts = _numbers(gps["GPSImgDirection"])
    if not parts or parts[0] is None or not 0 <= parts[0] <= 360:
        printable = _text(gps["GPSImgDirection"])
        warnings.append(f"GPS image direction {printable} is not 0-360°; ignoring it")
        return None, None
    ref = (_text(gps.get("GPSImgDirectionRef")) or "").upper()
    names: dict[str, Literal["true", "magnetic"]] = {"T": "true", "M": "magnetic"}
    return parts[0] % 360.0, names.get(ref)


def _exposure_time(tag: Any) -> float | None:
    """EXIF ExposureTime in seconds; None when missing or not a positive number (a hint)."""
    parts = _numbers(tag)
    if not parts or parts[0] is None or not 0 < parts[0] < 3600:
        return None
    return parts[0]


def _exposure_bias(tag: Any) -> float | None:
    """EXIF ExposureBiasValue in EV; None when missing or beyond any camera's ±15 EV."""
    parts = _numbers(tag)
    if not parts or parts[0] is None or abs(parts[0]) > 15:
        return None
    return parts[0]


def _positive(tag: Any, label: str, warnings: list[str]) -> float | None:
    if tag is None:
        return None
    parts = _numbers(tag)
    if not parts or parts[0] is None or parts[0] <= 0:
        warnings.append(f"{label} {_text(tag)} is meaningless; ignoring it")
        return None
    return parts[0]


def _numbers(tag: Any) -> list[float | None] | None:
    """An EXIF numeric tag as floats (None for 0/0 or NaN); None if it is not numeric."""
    if tag is None:
        return None
    values = getattr(tag, "values", tag)
    if isinstance(values, (str, bytes)) or not isinstance(values, list):
        return None
    numbers: list[float | None] = []
    for value in values:
        if isinstance(value, Fraction):
            # exifread keeps a 0/0 rational as a Fraction with a zero denominator.
            numbers.append(None if value.denominator == 0 else float(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(float(value) if math.isfinite(value) else None)
        else:
            return None
    return numbers


def _shown(value: str) -> str:
    """A tag value fit for a message: short, printable ASCII, else only described.

    Tags are file content; a message quotes no more of one than a date's worth.
    """
    if len(value) <= 32 and value.isascii() and value.isprintable():
        return repr(value)
    return f"(a {len(value)}-character value)"
