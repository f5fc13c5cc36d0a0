"""Google Photo Sphere (GPano) fields from an image's XMP packet.

The XMP packet is found in the JPEG APP1 segment named ``http://ns.adobe.com/xap/1.0/``
(for other containers, by searching the bytes). Only the ``<x:xmpmeta>`` element is
parsed, so the ``<?xpacket?>`` wrapper, its padding and the trailing NUL some cameras
write are left out, and so is any DTD placed in front of it; defusedxml refuses DTDs and
entity declarations (billion-laughs bombs, external entities) all the same. GPano fields
are read both as attributes of ``rdf:Description`` and as child elements, since writers
use both. A bad packet or a bad value is a warning, never an exception.

Reference: https://developers.google.com/streetview/spherical-metadata
"""

from __future__ import annotations

import math
from typing import Final
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

GPANO_NS: Final = "http://ns.google.com/photos/1.0/panorama/"
_XMP_APP1: Final = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_STARTS: Final = (b"<x:xmpmeta", b"<x:xapmeta")
_XMP_ENDS: Final = (b"</x:xmpmeta>", b"</x:xapmeta>")


class GPano(BaseModel):
    """The GPano fields panodock uses; every one optional, as in the files.

    Pixel fields describe where the stored image sits inside the full equirectangular
    panorama; angles are in degrees. ``pose_heading_degrees`` is the compass heading of
    the image centre, clockwise from true north; pitch and roll level the horizon.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    projection_type: str | None = Field(None, description="'equirectangular' for a sphere.")
    use_panorama_viewer: bool | None = None
    capture_software: str | None = None
    stitching_software: str | None = None
    cropped_area_image_width_pixels: int | None = Field(None, gt=0)
    cropped_area_image_height_pixels: int | None = Field(None, gt=0)
    full_pano_width_pixels: int | None = Field(None, gt=0)
    full_pano_height_pixels: int | None = Field(None, gt=0)
    cropped_area_left_pixels: int | None = Field(None, ge=0)
    cropped_area_top_pixels: int | None = Field(None, ge=0)
    pose_heading_degrees: float | None = Field(
        None, ge=0, lt=360, description="Heading of the image centre, clockwise from north."
    )
    pose_pitch_degrees: float | None = Field(None, ge=-90, le=90)
    pose_roll_degrees: float | None = Field(None, ge=-180, le=180)
    initial_view_heading_degrees: float | None = Field(None, ge=0, lt=360)
    initial_view_pitch_degrees: float | None = Field(None, ge=-90, le=90)
    initial_view_roll_degrees: float | None = Field(None, ge=-180, le=180)
    initial_horizontal_fov_degrees: float | None = Field(None, gt=0, le=360)
    initial_vertical_fov_degrees: float | None = Field(None, gt=0, le=180)
    source_photos_count: int | None = Field(None, ge=0)

    @field_validator("pose_heading_degrees", "initial_view_heading_degrees", mode="before")
    @classmethod
    def _wrap_heading(cls, value: object) -> object:
        # -90 and 270 are the same heading; writers use both, and 360 for north.
        number = _as_float(value)
        return number % 360.0 if number is not None else value

    def has_cropped_area(self) -> bool:
        """True when all six cropped-area pixel fields are present."""
        return None not in (
            self.cropped_area_image_width_pixels,
            self.cropped_area_image_height_pixels,
            self.full_pano_width_pixels,
            self.full_pano_height_pixels,
            self.cropped_area_left_pixels,
            self.cropped_area_top_pixels,
        )


_PIXEL_FIELDS: Final = (
    "cropped_area_image_width_pixels",
    "cropped_area_image_height_pixels",
    "full_pano_width_pixels",
    "full_pano_height_pixels",
    "cropped_area_left_pixels",
    "cropped_area_top_pixels",
)

# XMP name -> model field, e.g. "CroppedAreaLeftPixels" -> "cropped_area_left_pixels".
_FIELDS: Final = {
    "ProjectionType": "projection_type",
    "UsePanoramaViewer": "use_panorama_viewer",
    "CaptureSoftware": "capture_software",
    "StitchingSoftware": "stitching_software",
    "CroppedAreaImageWidthPixels": "cropped_area_image_width_pixels",
    "CroppedAreaImageHeightPixels": "cropped_area_image_height_pixels",
    "FullPanoWidthPixels": "full_pano_width_pixels",
    "FullPanoHeightPixels": "full_pano_height_pixels",
    "CroppedAreaLeftPixels": "cropped_area_left_pixels",
    "CroppedAreaTopPixels": "cropped_area_top_pixels",
    "PoseHeadingDegrees": "pose_heading_degrees",
    "PosePitchDegrees": "pose_pitch_degrees",
    "PoseRollDegrees": "pose_roll_degrees",
    "InitialViewHeadingDegrees": "initial_view_heading_degrees",
    "InitialViewPitchDegrees": "initial_view_pitch_degrees",
    "InitialViewRollDegrees": "initial_view_roll_degrees",
    "InitialHorizontalFOVDegrees": "initial_horizontal_fov_degrees",
    "InitialVerticalFOVDegrees": "initial_vertical_fov_degrees",
    "SourcePhotosCount": "source_photos_count",
}
_XMP_NAMES: Final = {field: xmp for xmp, field in _FIELDS.items()}


def find_xmp(data: bytes) -> bytes | None:
    """The XMP packet of an image, from ``<x:xmpmeta`` to ``</x:xmpmeta>``, or None.

    Parameters
    ----------
    data:
        The file's contents. For a JPEG, only its APP1 XMP segment is searched, so a
        packet belonging to an embedded thumbnail or a second image is never taken.
    """
    segment = _jpeg_xmp_segment(data) if data.startswith(b"\xff\xd8") else data
    if segment is None:
        return None
    for start_tag, end_tag in zip(_XMP_STARTS, _XMP_ENDS, strict=True):
        start = segment.find(start_tag)
        if start < 0:
            continue
        end = segment.find(end_tag, start)
        if end < 0:
            # Truncated packet: hand the rest over; the parser will say what is wrong.
            return segment[start:].rstrip(b"\x00 \t\r\n")
        return segment[start : end + len(end_tag)]
    return None


def read_gpano(data: bytes) -> tuple[GPano | None, list[str]]:
    """GPano fields from an image's XMP packet.

    Parameters
    ----------
    data:
        The file's contents (JPEG; TIFF or PNG with an uncompressed packet also work).

    Returns
    -------
    tuple
        The fields (None when there is no XMP, no GPano field, or the XMP is unusable)
        and human-readable warnings, e.g. ``"XMP is not well-formed: ..."`` or
        ``"GPano:PosePitchDegrees '120' ...; ignoring it"``. Never raises.
    """
    packet = find_xmp(data)
    if packet is None:
        return None, []
    try:
        root = fromstring(packet, forbid_dtd=True)
    except DefusedXmlException as exc:
        return None, [f"XMP contains a DTD or entity declarations, which are refused ({exc})"]
    except ParseError as exc:
        return None, [f"XMP is not well-formed: {exc}"]
    raw, warnings = _gpano_values(root)
    if not raw:
        return None, warnings
    gpano, problems = _validate(raw)
    return gpano, warnings + problems


def fit_to_image(gpano: GPano, *, width: int, height: int) -> tuple[GPano | None, list[str]]:
    """Make the GPano pixel fields agree with the image's real size.

    A panorama downscaled after capture keeps the GPano fields of the original (a
    500x250 file claiming 7200x3600). When the cropped area is the image scaled by the
    same factor in x and y, every pixel field is scaled by it; otherwise the cropped-area
    fields cannot be trusted and are dropped.

    Parameters
    ----------
    gpano:
        Fields as read by :func:`read_gpano`.
    width, height:
        Real size of the image in pixels.

    Returns
    -------
    tuple
        The fitted fields (None when nothing usable remains) and warnings.
    """
    if not gpano.has_cropped_area():
        return gpano, []
    crop_w = gpano.cropped_area_image_width_pixels or 0
    crop_h = gpano.cropped_area_image_height_pixels or 0
    full_w = gpano.full_pano_width_pixels or 0
    full_h = gpano.full_pano_height_pixels or 0
    left = gpano.cropped_area_left_pixels or 0
    top = gpano.cropped_area_top_pixels or 0
    if left + crop_w > full_w or top + crop_h > full_h:
        return _without_area(
            gpano,
            f"GPano cropped area {crop_w}x{crop_h} at ({left}, {top}) does not fit in the "
            f"full panorama {full_w}x{full_h}; ignoring the GPano cropped-area fields",
        )
    if (crop_w, crop_h) == (width, height):
        return gpano, []
    # A resize to integer sizes leaves up to a pixel of rounding on the shorter side, so
    # the longer side gives the scale and the shorter one is checked against it.
    scale = width / crop_w if crop_w >= crop_h else height / crop_h
    if abs(scale * crop_w - width) > 1 or abs(scale * crop_h - height) > 1:
        return _without_area(
            gpano,
            f"GPano says the image is {crop_w}x{crop_h} but it is {width}x{height}, not a "
            "uniform rescale; ignoring the GPano cropped-area fields",
        )
    new_left, new_top = round(left * scale), round(top * scale)
    scaled = {
        "cropped_area_image_width_pixels": width,
        "cropped_area_image_height_pixels": height,
        "cropped_area_left_pixels": new_left,
        "cropped_area_top_pixels": new_top,
        # Rounding must not leave the image sticking out of the panorama.
        "full_pano_width_pixels": max(round(full_w * scale), new_left + width),
        "full_pano_height_pixels": max(round(full_h * scale), new_top + height),
    }
    return gpano.model_copy(update=scaled), [
        f"GPano says the image is {crop_w}x{crop_h} but it is {width}x{height} (downscaled "
        f"after capture?); scaled the GPano pixel fields by {scale:.4g}"
    ]


def _jpeg_xmp_segment(data: bytes) -> bytes | None:
    """Payload of the standard-XMP APP1 segment, walking markers up to the image data."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
            return None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return None
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(_XMP_APP1):
            return payload[len(_XMP_APP1) :]
        pos += 2 + length
    return None


def _gpano_values(root: Element) -> tuple[dict[str, str], list[str]]:
    """Every GPano field in the tree as a string, attribute or element alike."""
    values: dict[str, str] = {}
    warnings: list[str] = []
    prefix = "{" + GPANO_NS + "}"

    def take(xmp_name: str, value: str) -> None:
        field = _FIELDS.get(xmp_name)
        if field is None:
            return
        value = value.strip()
        if field in values and values[field] != value:
            warnings.append(
                f"GPano:{xmp_name} appears twice ({values[field]!r} and {value!r}); "
                "using the first"
            )
            return
        values.setdefault(field, value)

    for element in root.iter():
        for key, value in element.attrib.items():
            if key.startswith(prefix):
                take(key[len(prefix) :], value)
        if isinstance(element.tag, str) and element.tag.startswith(prefix):
            take(element.tag[len(prefix) :], element.text or "")
    return values, warnings


def _validate(raw: dict[str, str]) -> tuple[GPano | None, list[str]]:
    """Build the model, dropping (with a warning) each field whose value is unusable."""
    warnings: list[str] = []
    values: dict[str, object] = dict(raw)
    for _ in range(len(raw) + 1):
        try:
            gpano = GPano.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0])
                if field in values:
                    warnings.append(
                        f"GPano:{_XMP_NAMES[field]} {raw[field]!r} is unusable "
                        f"({error['msg']}); ignoring it"
                    )
                    del values[field]
            continue
        return (gpano if values else None), warnings
    return None, warnings


def _without_area(gpano: GPano, warning: str) -> tuple[GPano | None, list[str]]:
    rest = gpano.model_copy(update=dict.fromkeys(_PIXEL_FIELDS))
    empty = all(value is None for value in rest.model_dump().values())
    return (None if empty else rest), [warning]


def _as_float(value: object) -> float | None:
    if not isinstance(value, (str, int, float)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
