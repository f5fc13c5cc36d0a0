"""Probing and decoding image bytes: formats, refusals a technician can act on, pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import QuarantineError
from ingest.image import ImageInfo, check_size, decode_image, probe_image

DATA = Path(__file__).parents[1] / "data" / "metadata"


def _encode(ext: str, img: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


@pytest.fixture
def bgr() -> np.ndarray:
    """A smooth, seeded 96x160 colour image whose channels all differ."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


@pytest.mark.parametrize(("ext", "fmt"), [(".png", "png"), (".tiff", "tiff"), (".jpg", "jpeg")])
def test_probe_reads_the_header(bgr: np.ndarray, ext: str, fmt: str) -> None:
    info = probe_image(_encode(ext, bgr), name="a" + ext)
    assert info == ImageInfo(width=bgr.shape[1], height=bgr.shape[0], format=fmt)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_lossless_decode_is_exact_and_bgr(bgr: np.ndarray, ext: str) -> None:
    out = decode_image(_encode(ext, bgr), name="a" + ext)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, bgr)


def test_jpeg_decode_matches_opencv(bgr: np.ndarray) -> None:
    data = _encode(".jpg", bgr, cv2.IMWRITE_JPEG_QUALITY, 90)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    out = decode_image(data, name="a.jpg")
    assert out.shape == bgr.shape
    assert np.abs(out.astype(int) - expected).max() <= 2


def test_grey_becomes_three_equal_channels(bgr: np.ndarray) -> None:
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    out = decode_image(_encode(".png", grey), name="grey.png")
    np.testing.assert_array_equal(out, np.dstack([grey, grey, grey]))


def test_alpha_is_dropped_not_composited(bgr: np.ndarray) -> None:
    alpha = np.zeros(bgr.shape[:2], np.uint8)  # fully transparent: compositing would change it
    out = decode_image(_encode(".png", np.dstack([bgr, alpha])), name="rgba.png")
    np.testing.assert_array_equal(out, bgr)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_becomes_8_bit(bgr: np.ndarray, ext: str) -> None:
    wide = bgr.astype(np.uint16) * 257 + np.uint16(100)  # not a plain shift of 8-bit data
    out = decode_image(_encode(ext, wide), name="deep" + ext)
    assert out.dtype == np.uint8
    assert np.abs(out.astype(int) - wide // 256).max() <= 1


def test_exif_orientation_is_not_applied() -> None:
    data = (DATA / "orientation__landscape_6.jpg").read_bytes()  # stored 450x600, Orientation 6
    info = probe_image(data, name="o.jpg")
    out = decode_image(data, name="o.jpg")
    assert out.shape == (info.height, info.width, 3)
    as_stored = cv2.imdecode(
        np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    )
    rotated = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert rotated.shape != out.shape  # the file really asks for a rotation
    assert np.abs(out.astype(int) - as_stored).max() <= 2


def test_empty_file_is_refused_with_advice() -> None:
    with pytest.raises(QuarantineError, match=r"^pano\.jpg is empty \(0 bytes\).*copy it again"):
        probe_image(b"", name="pano.jpg")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"<!DOCTYPE html><html><body>404 Not Found",
            r"is not an image \(it is an HTML page, 40 bytes\)",
        ),
        (b"\x00" * 10_000, r"is not an image \(it starts with 4096 zero bytes\).*copy it again"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(100), r"is not an image \(it is a video"),
        (bytes(range(1, 60)), r"is not an image \(it is binary data of no format panodock knows"),
    ],
)
def test_non_images_are_described(data: bytes, expected: str) -> None:
    with pytest.raises(QuarantineError, match=r"^x\.jpg " + expected):
        probe_image(data, name="x.jpg")


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + bytes(40), b"\x00\x00\x00\x18ftypheic" + bytes(40), b"RIFF\x00\x00\x00\x00WEBP"],
)
def test_unsupported_image_formats_are_refused(data: bytes) -> None:
    with pytest.raises(QuarantineError, match=r"which panodock does not read; export it as JPEG"):
        probe_image(data, name="x.jpg")


def test_probe_does_not_decode_pixels(bgr: np.ndarray) -> None:
    data = _encode(".jpg", bgr)
    truncated = data[: len(data) * 2 // 3]
    assert probe_image(truncated, name="t.jpg").width == bgr.shape[1]
    with pytest.raises(QuarantineError, match=r"^t\.jpg is truncated or corrupt: .*premature end"):
        decode_image(truncated, name="t.jpg")


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_truncated_lossless_files_are_refused(bgr: np.ndarray, ext: str) -> None:
    data = _encode(ext, bgr)
    with pytest.raises(QuarantineError, match=r"is truncated or corrupt: \S"):
        decode_image(data[: len(data) // 2], name="t" + ext)


def _with_broken_restart_marker(data: bytes) -> bytes:
    """Renumber one RST marker in the scan: libjpeg only warns and paints the rest grey."""
    out = bytearray(data)
    scan = out.index(b"\xff\xda")
    markers = [
        i for i in range(scan, len(out) - 1) if out[i] == 0xFF and 0xD0 <= out[i + 1] <= 0xD7
    ]
    index = markers[len(markers) // 2]
    out[index + 1] = 0xD0 + (out[index + 1] - 0xD0 + 3) % 8
    return bytes(out)


def test_corrupt_jpeg_that_opencv_accepts_is_refused(bgr: np.ndarray) -> None:
    data = _with_broken_restart_marker(_encode(".jpg", bgr, cv2.IMWRITE_JPEG_RST_INTERVAL, 2))
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(QuarantineError, match=r"is truncated or corrupt: Corrupt JPEG data"):
        decode_image(data, name="c.jpg")


def test_trailing_bytes_after_the_image_are_harmless(bgr: np.ndarray) -> None:
    data = _encode(".png", bgr)
    np.testing.assert_array_equal(decode_image(data + b"camera padding", name="p.png"), bgr)


def test_check_size_refuses_a_bomb_before_decoding() -> None:
    info = ImageInfo(width=60000, height=30000, format="jpeg")
    with pytest.raises(QuarantineError) as caught:
        check_size(info, name="bomb.jpg", max_pixels=16384 * 8192)
    assert str(caught.value) == (
        "bomb.jpg declares 60000x30000 pixels (1800 MP), above the limit of 134 MP; "
        "refusing to decode it"
    )


def test_check_size_near_the_limit_shows_exact_counts() -> None:
    limit = 16384 * 8192
    check_size(ImageInfo(16384, 8192, "jpeg"), name="ok.jpg", max_pixels=limit)
    with pytest.raises(QuarantineError, match=r"134,234,112 pixels.*134,217,728 pixels"):
        check_size(ImageInfo(16384, 8193, "jpeg"), name="big.jpg", max_pixels=limit)
