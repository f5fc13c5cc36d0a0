"""Camera files as they come: Insta360 .insp, a Theta DNG raw, videos (whole pipeline).

The .insp and the DNG are built here from a real dual-fisheye frame (a Samsung Gear 360 video
frame, tests/data/stitching/gear360_extract_cynricfu.jpg, MIT): the .insp is that JPEG with
an EXIF Make/Model written by libvips and a synthetic vendor trailer; the DNG is its pixels,
linearised and mosaicked into an RGGB Bayer pattern, written by tifffile with the DNG tags
LibRaw needs (DNGVersion, CFA pattern, ColorMatrix1 = XYZ -> linear sRGB).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvips
import tifffile

from config.errors import QuarantineError
from config.settings import Settings
from ingest.camera_files import is_dng, is_insta360_photo
from ingest.image import decode_image, probe_image
from tests.support.pipeline import Harness, file_candidate, gpano_xmp, with_xmp
from workers.contract.keys import raw_key
from workers.state.ledger import State

FRAME = Path(__file__).parents[1] / "data" / "stitching" / "gear360_extract_cynricfu.jpg"
#: A stand-in for the vendor trailer (its real layout is not published): bytes, then a magic.
TRAILER = bytes(range(256)) * 40 + b"8db42d694ccc418790edff439fe026bf"


def frame() -> np.ndarray:
    """The dual-fisheye test frame, BGR."""
    bgr = cv2.imread(str(FRAME))
    assert bgr is not None, FRAME
    return bgr


def insp_bytes(make: str = "Insta360", model: str = "ONE X2") -> bytes:
    image = pyvips.Image.new_from_file(str(FRAME)).resize(0.75)  # 1920x960, two circles
    image = image.copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", make)
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Model", model)
    jpeg: bytes = image.jpegsave_buffer(Q=90)
    # A camera app may tag it as a 360° photo: the name, not this, says what it is.
    return with_xmp(jpeg, gpano_xmp(ProjectionType="equirectangular")) + TRAILER


def dng_bytes(model: str = "RICOH THETA Z1", width: int = 1280) -> bytes:
    bgr = cv2.resize(frame(), (width, width // 2), interpolation=cv2.INTER_AREA)
    rgb = bgr[:, :, ::-1].astype(np.float64) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lin = np.round(linear * 65535).astype(np.uint16)
    cfa = np.empty(lin.shape[:2], np.uint16)
    cfa[0::2, 0::2], cfa[0::2, 1::2] = lin[0::2, 0::2, 0], lin[0::2, 1::2, 1]
    cfa[1::2, 0::2], cfa[1::2, 1::2] = lin[1::2, 0::2, 1], lin[1::2, 1::2, 2]
    xyz_to_srgb = [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415],
                   [0.0557, -0.2040, 1.0570]]  # fmt: skip
    matrix = tuple(v for row in xyz_to_srgb for x in row for v in (round(x * 10000), 10000))
    tags = [
        (271, "s", 0, "RICOH", True),
        (272, "s", 0, model, True),
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, model, True),  # UniqueCameraModel
        (50717, "I", 1, 65535, True),  # WhiteLevel
        (50721, "2i", 9, matrix, True),  # ColorMatrix1
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
    ]
    out = io.BytesIO()
    tifffile.imwrite(out, cfa, photometric=32803, extratags=tags, metadata=None)
    return out.getvalue()


@pytest.fixture
def harness(settings: Settings) -> Harness:
    # A Gear 360 frame through an Insta360 or Theta profile has a visible seam: the review
    # policy would hold it for a person. What is tested here is the file, not the seam.
    return Harness(settings.model_copy(update={"review": "never"}))


def publish(harness: Harness, path: Path, data: bytes) -> str:
    path.write_bytes(data)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    return capture_id


def test_an_insp_is_stitched_with_the_insta360_profile_and_archived_whole(
    harness: Harness, tmp_path: Path
) -> None:
    data = insp_bytes()
    assert data.startswith(b"\xff\xd8") and data.endswith(TRAILER)
    capture_id = publish(harness, tmp_path / "IMG_20260501_101112_00_042.insp", data)
    _, manifest = harness.published(capture_id)
    assert manifest.kind == "dual_fisheye" and manifest.stitch is not None
    assert manifest.stitch["profile"] == "insta360-one-x2", manifest.stitch
    capture = harness.app.ledger.get(capture_id)
    archived = harness.store.get(raw_key(capture.files[0].sha256, capture.files[0].name))
    assert archived == data  # the trailer is kept in the archive
    master = cv2.imdecode(np.frombuffer(harness.store.get(manifest.equirect.key), np.uint8), 1)
    assert master is not None
    assert master.shape[1] == 2 * master.shape[0] and master.mean() > 40


def test_an_insp_renamed_to_jpg_is_recognised_by_its_trailer(
    harness: Harness, tmp_path: Path
) -> None:
    data = insp_bytes(model="X3")
    assert is_insta360_photo(data) and not is_insta360_photo(data[: -len(TRAILER)])
    capture_id = publish(harness, tmp_path / "IMG_20260501_101112_00_042.jpg", data)
    _, manifest = harness.published(capture_id)
    assert manifest.kind == "dual_fisheye", "the trailer, not the GPano claim, decides"
    assert manifest.stitch is not None and manifest.stitch["profile"] == "insta360-x3"


def test_an_insp_decodes_to_the_jpeg_without_its_trailer() -> None:
    data = insp_bytes()
    jpeg_end = data.index(b"\xff\xd9" + TRAILER[:8]) + 2
    with_trailer = decode_image(data, name="a.insp")
    assert np.array_equal(with_trailer, decode_image(data[:jpeg_end], name="a.jpg"))
    assert probe_image(data, name="a.insp").format == "jpeg"


def test_a_theta_dng_is_decoded_by_libraw_and_stitched_with_the_z1_profile(
    harness: Harness, tmp_path: Path
) -> None:
    data = dng_bytes()
    tiff = cv2.imencode(".tif", np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    assert is_dng(data) and not is_dng(tiff)
    info = probe_image(data, name="R0010001.DNG")
    assert (info.width, info.height, info.format) == (1280, 640, "dng")
    decoded = decode_image(data, name="R0010001.DNG")
    reference = cv2.resize(frame(), (1280, 640), interpolation=cv2.INTER_AREA)
    assert decoded.shape == reference.shape
    assert np.abs(decoded.astype(int) - reference).mean() < 12  # demosaicked, same colours
    capture_id = publish(harness, tmp_path / "R0010001.DNG", data)
    _, manifest = harness.published(capture_id)
    assert manifest.kind == "dual_fisheye" and manifest.stitch is not None
    assert manifest.stitch["profile"] == "ricoh-theta-z1", manifest.stitch


def test_a_dng_libraw_cannot_decode_is_quarantined_naming_converters(
    harness: Harness, tmp_path: Path
) -> None:
    data = dng_bytes()
    broken = data[:4096]  # the tags are there, the pixels are cut off
    with pytest.raises(QuarantineError, match="DNG raw file.*Adobe DNG Converter"):
        decode_image(broken, name="R0010002.DNG")
    capture_id = publish(harness, tmp_path / "R0010002.DNG", broken)
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.QUARANTINED and "darktable" in (capture.reason or "")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("VID_20260501_101112_00_007.insv", b"\x00\x00\x00\x18ftypisom" + bytes(4000)),
        ("R0010007.MP4", b"\x00\x00\x00\x18ftypmp42" + bytes(4000)),
        ("walk.mp4", b"\x01\x02garbled header of a cut video" + bytes(200)),
    ],
)
def test_videos_are_archived_and_quarantined_with_a_clear_reason(
    harness: Harness, tmp_path: Path, name: str, data: bytes
) -> None:
    capture_id = publish(harness, tmp_path / name, data)
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.QUARANTINED
    assert re.search(
        re.escape(name) + r" is not an image \(it is a video.*video walkthroughs are not "
        r"processed; the original is archived",
        capture.reason or "",
    ), capture.reason
    assert harness.store.get(raw_key(capture.files[0].sha256, name)) == data
