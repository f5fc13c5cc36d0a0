"""EXIF and GPano metadata: real camera files, broken ones, and synthetic edge cases.

Expected values for the real files were read off their raw EXIF rationals (exifread's
and libvips' listings agree) and are written here as those rationals, not as results.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import cv2
import exifread
import numpy as np
import pytest
import pyvips

from ingest.gpano import GPano, fit_to_image, read_gpano
from ingest.metadata import read_metadata

DATA = Path(__file__).parents[1] / "data" / "metadata"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def _dms(degrees: Fraction | int, minutes: Fraction | int, seconds: Fraction | int) -> float:
    return float(degrees + Fraction(minutes) / 60 + Fraction(seconds) / 3600)


def _tiny_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((8, 16, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def _with_segment(jpeg: bytes, segment: bytes) -> bytes:
    """Insert a whole marker segment (``FF En`` + length + payload) right after SOI."""
    return jpeg[:2] + segment + jpeg[2:]


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _xmp_jpeg(xml: str | bytes) -> bytes:
    raw = xml.encode() if isinstance(xml, str) else xml
    return _with_segment(_tiny_jpeg(), _app1(XMP_HEADER + raw))


def _exif_jpeg(**fields: str) -> bytes:
    """A small JPEG whose EXIF libvips writes from ``ifd3_GPSLatitude="47/1 ..."`` etc."""
    image = pyvips.Image.black(16, 8, bands=3).copy()
    for key, value in fields.items():
        image.set_type(pyvips.GValue.gstr_type, "exif-" + key.replace("_", "-", 1), value)
    data: bytes = image.jpegsave_buffer()
    return data


GOOD_GPS = {
    "ifd3_GPSLatitudeRef": "S",
    "ifd3_GPSLatitude": "33/1 51/1 5415/100",
    "ifd3_GPSLongitudeRef": "E",
    "ifd3_GPSLongitude": "151/1 12/1 3/1",
}


# --- real files ---------------------------------------------------------------------


def test_sony_gps_with_magnetic_direction() -> None:
    meta = read_metadata((DATA / "Sony_DSC-HX5V__2_.jpg").read_bytes())
    assert (meta.make, meta.model) == ("SONY", "DSC-HX5V")
    assert meta.datetime_original == datetime(2010, 5, 15, 17, 12, 5)
    assert meta.gps is not None
    assert meta.gps.lat == pytest.approx(_dms(51, 46, Fraction(21507, 500)))
    assert meta.gps.lon == pytest.approx(_dms(8, 21, Fraction(56297, 1000)))
    assert meta.gps.altitude_m == pytest.approx(93.3)
    assert (meta.gps.img_direction_deg, meta.gps.img_direction_ref) == (46.5, "magnetic")
    assert meta.warnings == []


def test_iphone_gps_west_with_true_direction() -> None:
    app1 = (DATA / "Apple_iPhone_5.exif-app1.bin").read_bytes()
    meta = read_metadata(_with_segment(_tiny_jpeg(), app1))
    assert (meta.make, meta.model) == ("Apple", "iPhone 5")
    assert meta.datetime_original == datetime(2012, 9, 29, 16, 11, 25)
    assert meta.gps is not None
    assert meta.gps.lat == pytest.approx(_dms(47, Fraction(3763, 100), 0))
    assert meta.gps.lon == pytest.approx(-_dms(122, Fraction(506, 25), 0))  # ref W
    assert meta.gps.altitude_m == pytest.approx(13595 / 3412)
    assert meta.gps.img_direction_deg == pytest.approx(46616 / 499)
    assert meta.gps.img_direction_ref == "true"


def test_zero_dop_is_dropped_and_the_fix_kept() -> None:
    meta = read_metadata((DATA / "tests__67-0_length_string.jpg").read_bytes())
    assert (meta.make, meta.model) == ("samsung", "SM-G930F")
    assert meta.datetime_original is None  # the file has DateTime but no DateTimeOriginal
    assert meta.gps is not None
    assert (meta.gps.lat, meta.gps.lon) == pytest.approx((_dms(51, 1, 30), _dms(7, 35, 31)))
    assert meta.gps.altitude_m == 340
    assert meta.gps.dop is None
    assert meta.warnings == ["GPS DOP 0 is meaningless; ignoring it"]


def test_gps_block_without_values() -> None:
    meta = read_metadata((DATA / "tests__45-gps_ifd.jpg").read_bytes())
    assert meta.make == "Polyphony Digital Inc."
    assert meta.gps is None
    assert meta.warnings == ["the EXIF GPS block is empty; no GPS position"]


def test_corrupt_exif_still_yields_what_is_sound() -> None:
    meta = read_metadata((DATA / "corrupt_exif.jpg").read_bytes())
    assert (meta.make, meta.model) == ("OnePlus", "ONEPLUS A3003")
    assert meta.datetime_original == datetime(2016, 7, 7, 21, 42, 20, 683670)  # SubSecTime
    assert meta.gps is not None
    assert meta.gps.lat == pytest.approx(_dms(48, 4, Fraction(1084333, 20948)))
    assert meta.gps.lon == pytest.approx(-_dms(1, 40, Fraction(18176, 4299)))
    assert meta.gps.altitude_m is None
    assert meta.gps.img_direction_deg == pytest.approx(1212087 / 8192)
    assert meta.gps.img_direction_ref is None  # the file has no GPSImgDirectionRef


def test_empty_exif_is_empty_metadata() -> None:
    meta = read_metadata((DATA / "empty_exif.jpg").read_bytes())
    assert meta.model_dump() == read_metadata(b"").model_dump()
    assert meta.make is None and meta.gps is None and meta.warnings == []


def test_gear360_panorama_downscaled_after_capture() -> None:
    meta = read_metadata((DATA / "panorama360.jpg").read_bytes())
    assert (meta.make, meta.model) == ("SAMSUNG", "SM-C200")
    assert meta.gps is not None
    assert (meta.gps.lat, meta.gps.lon) == pytest.approx((_dms(59, 50, 27), _dms(30, 30, 36)))
    assert meta.gps.altitude_m is None  # stored as 0/0
    assert "GPS altitude 0/0 is not a number; ignoring the altitude" in meta.warnings
    assert meta.gpano is not None
    assert (meta.gpano.full_pano_width_pixels, meta.gpano.full_pano_height_pixels) == (500, 250)
    assert any("7200x3600 but it is 500x250" in w for w in meta.warnings)


def test_vendor_segment_before_exif_falls_back_to_libvips() -> None:
    original = (DATA / "Sony_DSC-HX5V__2_.jpg").read_bytes()
    # A 6 KB vendor block first pushes EXIF beyond the window exifread looks in.
    shifted = _with_segment(original, b"\xff\xe9" + (6002).to_bytes(2, "big") + bytes(6000))
    assert exifread.process_file(io.BytesIO(shifted), details=False) == {}
    assert read_metadata(shifted) == read_metadata(original)


def test_exifread_stays_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="exifread")
    read_metadata((DATA / "tests__45-gps_ifd.jpg").read_bytes())  # exifread warns on it
    read_metadata(b"not an image")
    assert [r for r in caplog.records if r.name.startswith("exifread")] == []
    assert logging.getLogger("exifread").disabled is False


@pytest.mark.parametrize("seed", range(5))
def test_garbage_exif_never_raises(seed: int) -> None:
    rng = np.random.default_rng(seed)
    block = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00" + rng.bytes(400)
    meta = read_metadata(_with_segment(_tiny_jpeg(), _app1(block)))
    assert meta.gps is None or -90 <= meta.gps.lat <= 90


# --- GPS validation (synthetic EXIF) ---------------------------------------------------


def test_valid_synthetic_fix_south_east() -> None:
    meta = read_metadata(_exif_jpeg(**GOOD_GPS))
    assert meta.gps is not None
    assert meta.gps.lat == pytest.approx(-_dms(33, 51, Fraction(5415, 100)))
    assert meta.gps.lon == pytest.approx(_dms(151, 12, 3))


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        (
            {"ifd3_GPSLatitude": "213/1 36/1 0/1"},
            "GPS latitude 213.6° is impossible; ignoring the GPS fix",
        ),
        (
            {"ifd3_GPSLongitude": "190/1 30/1 0/1"},
            "GPS longitude 190.5° is impossible; ignoring the GPS fix",
        ),
        (
            {"ifd3_GPSLatitudeRef": "E"},
            "GPS latitude reference is 'E', not N or S; ignoring the GPS fix",
        ),
        (
            {"ifd3_GPSLatitude": "0/0 30/1 0/1"},
            "GPS latitude has a value that is not a number (zero denominator); "
            "ignoring the GPS fix",
        ),
        (
            {"ifd3_GPSStatus": "V"},
            "GPS status is V (no satellite fix when the photo was taken); ignoring the GPS fix",
        ),
        (
            {
                "ifd3_GPSLatitude": "0/1 0/1 0/1",
                "ifd3_GPSLongitude": "0/1 0/1 0/1",
                "ifd3_GPSLatitudeRef": "N",
            },
            "GPS position 0°, 0° is a placeholder written without a satellite fix; "
            "ignoring the GPS fix",
        ),
    ],
)
def test_impossible_fixes_are_rejected_with_a_reason(fields: dict[str, str], warning: str) -> None:
    meta = read_metadata(_exif_jpeg(**{**GOOD_GPS, **fields}))
    assert meta.gps is None
    assert warning in meta.warnings


def test_missing_reference_letter_rejects_the_fix() -> None:
    fields = {k: v for k, v in GOOD_GPS.items() if k != "ifd3_GPSLongitudeRef"}
    meta = read_metadata(_exif_jpeg(**fields))
    assert meta.gps is None
    assert "GPS longitude reference is missing, not E or W; ignoring the GPS fix" in meta.warnings


def test_accuracy_dop_and_bad_direction() -> None:
    meta = read_metadata(
        _exif_jpeg(
            **GOOD_GPS,
            ifd3_GPSHPositioningError="35/10",
            ifd3_GPSDOP="12/10",
            ifd3_GPSImgDirection="400/1",
            ifd3_GPSImgDirectionRef="T",
        )
    )
    assert meta.gps is not None
    assert (meta.gps.accuracy_m, meta.gps.dop) == (3.5, 1.2)
    assert meta.gps.img_direction_deg is None
    assert "GPS image direction 400 is not 0-360°; ignoring it" in meta.warnings


def test_capture_time_with_offset_and_unset_clock() -> None:
    meta = read_metadata(
        _exif_jpeg(ifd2_DateTimeOriginal="2024:03:01 10:11:12", ifd2_OffsetTimeOriginal="+02:00")
    )
    plus_two = timezone(timedelta(hours=2))
    assert meta.datetime_original == datetime(2024, 3, 1, 10, 11, 12, tzinfo=plus_two)
    unset = read_metadata(_exif_jpeg(ifd2_DateTimeOriginal="0000:00:00 00:00:00"))
    assert unset.datetime_original is None
    assert unset.warnings == [
        "DateTimeOriginal '0000:00:00 00:00:00' is not a date (camera clock not set?); ignoring it"
    ]


# --- GPano -----------------------------------------------------------------------------


def _gpano_xmp(values: dict[str, str], *, as_elements: bool) -> str:
    if as_elements:
        body = "".join(f"<GPano:{k}>{v}</GPano:{k}>" for k, v in values.items())
        description = f'<rdf:Description rdf:about="">{body}</rdf:Description>'
    else:
        attributes = " ".join(f'GPano:{k}="{v}"' for k, v in values.items())
        description = f'<rdf:Description rdf:about="" {attributes}/>'
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:GPano="http://ns.google.com/photos/1.0/panorama/">'
        f"{description}</rdf:RDF></x:xmpmeta>"
    )


def test_cardboard_camera_xmp_attributes() -> None:
    xml = (DATA / "xmp-gpano-main.xml").read_bytes()
    gpano, warnings = read_gpano(_xmp_jpeg(b'<?xpacket begin="" id="W5M0"?>' + xml + b"\x00"))
    assert warnings == []
    assert gpano == GPano(
        cropped_area_left_pixels=0,
        cropped_area_top_pixels=1932,
        cropped_area_image_width_pixels=9344,
        cropped_area_image_height_pixels=1613,
        full_pano_width_pixels=9344,
        full_pano_height_pixels=4672,
        initial_view_heading_degrees=180,
    )


def test_gear360_xmp_elements_with_trailing_nul() -> None:
    data = (DATA / "panorama360.jpg").read_bytes()
    assert b"</x:xmpmeta>" in data and b'<?xpacket end="r"?>\x00' in data
    gpano, warnings = read_gpano(data)
    assert warnings == []
    assert gpano is not None
    assert gpano.projection_type == "equirectangular"
    assert gpano.use_panorama_viewer is True
    assert (gpano.full_pano_width_pixels, gpano.full_pano_height_pixels) == (7200, 3600)
    assert (gpano.pose_heading_degrees, gpano.pose_pitch_degrees) == (0.0, 0.0)


def test_attributes_and_elements_read_the_same() -> None:
    values = {"PoseHeadingDegrees": "-90", "PosePitchDegrees": "2.5", "UsePanoramaViewer": "True"}
    as_attributes, _ = read_gpano(_xmp_jpeg(_gpano_xmp(values, as_elements=False)))
    as_elements, _ = read_gpano(_xmp_jpeg(_gpano_xmp(values, as_elements=True)))
    assert as_attributes == as_elements
    assert as_elements is not None and as_elements.pose_heading_degrees == 270.0


def test_xmp_without_gpano_is_not_a_problem() -> None:
    data = (DATA / "xmp__BlueSquare.jpg").read_bytes()
    assert XMP_HEADER in data
    assert read_gpano(data) == (None, [])


def test_entity_bomb_is_harmless() -> None:
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xpacket begin="" id="W5M0"?><!DOCTYPE x:xmpmeta [<!ENTITY e0 "lol">{entities}]>'
        + _gpano_xmp({"ProjectionType": "&e9;"}, as_elements=True)
    )
    # Expanded, this is a billion "lol"s; refused, it is one warning and no GPano.
    gpano, warnings = read_gpano(_xmp_jpeg(bomb))
    assert gpano is None
    assert len(warnings) == 1 and warnings[0].startswith("XMP ")


def test_malformed_xmp_is_a_warning() -> None:
    broken = _gpano_xmp({"PoseHeadingDegrees": "10"}, as_elements=True).replace("</rdf:RDF>", "")
    gpano, warnings = read_gpano(_xmp_jpeg(broken))
    assert gpano is None
    assert len(warnings) == 1 and warnings[0].startswith("XMP is not well-formed: ")


def test_one_bad_value_drops_only_that_field() -> None:
    values = {"PosePitchDegrees": "120", "PoseRollDegrees": "abc", "PoseHeadingDegrees": "10"}
    gpano, warnings = read_gpano(_xmp_jpeg(_gpano_xmp(values, as_elements=False)))
    assert gpano is not None
    assert (gpano.pose_heading_degrees, gpano.pose_pitch_degrees, gpano.pose_roll_degrees) == (
        10.0,
        None,
        None,
    )
    assert sorted(w.split(" ")[0] for w in warnings) == [
        "GPano:PosePitchDegrees",
        "GPano:PoseRollDegrees",
    ]


def _strip(width: int, height: int, top: int) -> GPano:
    return GPano(
        cropped_area_image_width_pixels=width,
        cropped_area_image_height_pixels=height,
        full_pano_width_pixels=2 * width,
        full_pano_height_pixels=width,
        cropped_area_left_pixels=width // 2,
        cropped_area_top_pixels=top,
    )


def test_fit_scales_a_uniformly_downscaled_strip() -> None:
    gpano = _strip(9344, 1613, 1932)
    fitted, warnings = fit_to_image(gpano, width=2336, height=403)
    assert fitted is not None and len(warnings) == 1
    assert fitted.full_pano_width_pixels == 2 * 9344 // 4
    assert fitted.cropped_area_top_pixels == 1932 // 4
    assert (fitted.cropped_area_image_width_pixels, fitted.cropped_area_image_height_pixels) == (
        2336,
        403,
    )
    assert fit_to_image(gpano, width=9344, height=1613) == (gpano, [])


def test_fit_drops_an_area_it_cannot_trust() -> None:
    stretched, warnings = fit_to_image(_strip(9344, 1613, 1932), width=2336, height=800)
    assert stretched is None and "not a uniform rescale" in warnings[0]
    outside = _strip(1000, 400, 900)  # top 900 + 400 > full height 1000
    kept, warnings = fit_to_image(
        outside.model_copy(update={"pose_heading_degrees": 12.0}), width=1000, height=400
    )
    assert kept is not None and kept.pose_heading_degrees == 12.0
    assert not kept.has_cropped_area() and "does not fit" in warnings[0]
