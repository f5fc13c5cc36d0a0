"""Image bytes: what they are (a header probe) and their pixels (a checked decode).

The worker calls :func:`probe_image`, then :func:`check_size`, then :func:`decode_image`,
so a decompression bomb is refused from its header before a single pixel is decoded.

Only JPEG, TIFF and PNG are read, and the format is recognised from the file's first
bytes before libvips sees them: libvips would otherwise pick any of its loaders (SVG,
PDF, ImageMagick...) for untrusted bytes.

Pixels are decoded by libvips, not ``cv2.imdecode``. On an 8192x4096 JPEG (this 2-core
machine, medians of 9) :func:`decode_image` takes 0.22-0.28 s CPU (0.20 s wall), RGB to
BGR swap included, against 0.17-0.19 s for ``cv2.imdecode``; the header probe 1 ms. But
cv2 decodes a JPEG with corrupt entropy-coded data silently (a bad restart marker, a
segment cut short: the rest of the image comes out grey) and returns ``None`` without a
reason for a truncated one, while libvips refuses both and says why. The extra
0.05-0.09 s is 3-5% of the 2 s CPU budget of a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import pyvips

from config.errors import QuarantineError
from ingest.camera_files import decode_dng, is_dng, is_video_name, probe_dng, video_reason

SUPPORTED_FORMATS: Final = ("jpeg", "tiff", "png", "dng")
"""Formats :func:`probe_image` and :func:`decode_image` accept, as ``ImageInfo.format``
(``"dng"``: a raw, decoded by LibRaw; see :mod:`ingest.camera_files`)."""

_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)

# Images of a kind panodock does not read: (offset, magic, what to call it).
_OTHER_IMAGES: Final = (
    (0, b"GIF8", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (0, b"8BPS", "a Photoshop document"),
    (0, b"v/1\x01", "an OpenEXR image"),
    (0, b"#?RADIANCE", "a Radiance HDR image"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (0, b"\xff\x0a", "a JPEG XL image"),
    (0, b"FUJIFILMCCD-RAW", "a Fujifilm raw file"),
    (8, b"WEBP", "a WebP image"),
    (8, b"heic", "a HEIC image"),
    (8, b"heix", "a HEIC image"),
    (8, b"mif1", "a HEIF image"),
    (8, b"avif", "an AVIF image"),
    (8, b"crx ", "a Canon CR3 raw file"),
)

# Files that are not images at all.
_NOT_IMAGES: Final = (
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (4, b"ftyp", "a video (MP4/MOV)"),
    (8, b"AVI ", "an AVI video"),
)

# Text files, by how they start (lower-cased, leading blanks dropped): (prefix, what it is).
_TEXT_KINDS: Final = (
    ("<!doctype html", "an HTML page"),
    ("<html", "an HTML page"),
    ("<svg", "an SVG drawing"),
    ("<?xml", "an XML document"),
    ("{", "a JSON or other text document"),
    ("[", "a JSON or other text document"),
    ("-----begin", "a PEM key or certificate (text)"),
)

_LOADERS: Final = {"jpeg": "jpegload_buffer", "png": "pngload_buffer", "tiff": "tiffload_buffer"}
_FILE_LOADERS: Final = {"jpeg": "jpegload", "png": "pngload", "tiff": "tiffload"}
HEAD_BYTES: Final = 4096
"""Bytes :func:`check_format` needs: every signature, and the text and zero checks."""

# How picky the pixel decode is. libjpeg reports broken entropy-coded data (a bad restart
# marker, a segment cut short) only as a *warning* and paints the rest grey, so JPEG fails
# on warnings; libvips still lets the harmless "extraneous bytes" and trailing junk pass.
# libpng and libtiff warn about harmless things (an odd sRGB profile, a private tag), so
# PNG and TIFF fail on errors only.
_FAIL_ON: Final = {"jpeg": "warning", "png": "error", "tiff": "error"}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an image's header declares, before any pixel is decoded."""

    width: int
    height: int
    format: str
    """One of :data:`SUPPORTED_FORMATS`: ``"jpeg"``, ``"tiff"`` or ``"png"``."""

    @property
    def pixels(self) -> int:
        """Number of pixels, width x height."""
        return self.width * self.height


def sniff_format(data: bytes) -> str | None:
    """The supported format the bytes start with, or None.

    Parameters
    ----------
    data:
        The file's contents; only the first few bytes are looked at.

    Returns
    -------
    str or None
        ``"jpeg"``, ``"tiff"`` or ``"png"``; None for anything else.
    """
    for magic, fmt in _SIGNATURES:
        if data.startswith(magic):
            return fmt
    return None


def probe_image(data: bytes, *, name: str) -> ImageInfo:
    """Read the header of a JPEG, TIFF or PNG without decoding its pixels.

    Parameters
    ----------
    data:
        The file's contents.
    name:
        The file name, used in error messages.

    Returns
    -------
    ImageInfo
        Declared width and height in pixels and the format.

    Raises
    ------
    QuarantineError
        The file is empty, is not an image, is an image format panodock does not read, or
        its header is truncated or corrupt. The message says which and what to do.
    """
    fmt = _require_supported(data, name)
    if fmt == "dng":
        return ImageInfo(*probe_dng(data, name=name), format=fmt)
    image = _load(data, fmt, name)
    return ImageInfo(width=image.width, height=image.height, format=fmt)


def check_format(head: bytes, *, name: str) -> str:
    """The supported format the file's first bytes name, else the reason it is refused.

    Parameters
    ----------
    head:
        The first bytes of the file (4 KiB are enough for every check).
    name:
        The file name, used in error messages.

    Raises
    ------
    QuarantineError
        As :func:`probe_image` for a file that is empty, not an image or of a format
        panodock does not read.
    """
    return _require_supported(head, name)


def probe_image_file(path: Path, *, name: str) -> ImageInfo:
    """:func:`probe_image` for a file on disk, reading only what the header needs.

    The format is sniffed from the first 4 KiB (the same checks and messages as
    :func:`probe_image`); libvips then opens the file itself, lazily, so a large file
    costs no more memory than a small one.

    Raises
    ------
    QuarantineError
        As :func:`probe_image`.
    """
    with Path(path).open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    fmt = _require_supported(head, name)
    if fmt == "dng":
        return ImageInfo(*probe_dng(Path(path), name=name), format=fmt)
    try:
        image: pyvips.Image = pyvips.Operation.call(
            _FILE_LOADERS[fmt], str(path), access="sequential", fail_on="truncated"
        )
    except pyvips.Error as exc:
        raise QuarantineError(f"{name} is truncated or corrupt: {_reason(exc)}") from exc
    return ImageInfo(width=image.width, height=image.height, format=fmt)


def check_size(info: ImageInfo, *, name: str, max_pixels: int) -> None:
    """Refuse an image whose header declares more pixels than the limit.

    Call it between :func:`probe_image` and :func:`decode_image`: a small file can declare
    a huge image (a decompression bomb) that would exhaust memory once decoded.

    Parameters
    ----------
    info:
        The probed header.
    name:
        The file name, used in the error message.
    max_pixels:
        Largest accepted width x height.

    Raises
    ------
    QuarantineError
        ``info.pixels`` exceeds ``max_pixels``.
    """
    if info.pixels <= max_pixels:
        return
    declared, limit = _megapixels(info.pixels), _megapixels(max_pixels)
    if declared == limit:
        declared, limit = f"{info.pixels:,} pixels", f"{max_pixels:,} pixels"
    else:
        declared, limit = f"{declared} MP", f"{limit} MP"
    raise QuarantineError(
        f"{name} declares {info.width}x{info.height} pixels ({declared}), above the limit "
        f"of {limit}; refusing to decode it"
    )


def decode_image(data: bytes, *, name: str) -> np.ndarray:
    """Decode a JPEG, TIFF or PNG into 8-bit BGR pixels, as stored.

    EXIF orientation is NOT applied: a panorama must keep the pixel layout its stitcher
    wrote. Grey images become three equal channels, an alpha channel is dropped (not
    composited), 16-bit and float images are converted to 8-bit sRGB.

    Parameters
    ----------
    data:
        The file's contents.
    name:
        The file name, used in error messages.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape (height, width, 3), channels in B, G, R order (OpenCV's),
        C-contiguous and writable.

    Raises
    ------
    QuarantineError
        Everything :func:`probe_image` refuses, plus a file whose pixel data is truncated
        or corrupt; the message carries libvips' reason.
    """
    fmt = _require_supported(data, name)
    if fmt == "dng":
        return decode_dng(data, name=name)
    image = _to_srgb8(_load(data, fmt, name, fail_on=_FAIL_ON[fmt]), name)
    try:
        pixels = image.write_to_memory()
    except pyvips.Error as exc:
        raise QuarantineError(f"{name} is truncated or corrupt: {_reason(exc)}") from exc
    rgb = np.frombuffer(pixels, dtype=np.uint8).reshape(image.height, image.width, 3)
    # In place: the libvips buffer is writable and ours, and a second full copy would be
    # the job's peak (100 MB at 8K, 400 MB at 16K).
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=rgb)


def _require_supported(data: bytes, name: str) -> str:
    if not data:
        raise QuarantineError(
            f"{name} is empty (0 bytes): the copy probably failed; copy it again from the camera"
        )
    fmt = sniff_format(data)
    if fmt == "tiff" and is_dng(data):
        return "dng"  # a camera raw (a Theta Z1's RAW+), not a TIFF libvips should read
    if fmt is not None:
        return fmt
    for offset, magic, kind in _OTHER_IMAGES:
        if data[offset : offset + len(magic)] == magic:
            raise QuarantineError(
                f"{name} is {kind}, which panodock does not read; export it as JPEG "
                "(or TIFF or PNG) and copy it again"
            )
    for offset, magic, kind in _NOT_IMAGES:
        if data[offset : offset + len(magic)] == magic:
            if "video" in kind:
                raise QuarantineError(video_reason(name, kind))
            raise QuarantineError(
                f"{name} is not an image (it is {kind}); copy the panorama itself, exported as JPEG"
            )
    if is_video_name(name):
        raise QuarantineError(video_reason(name, "a video, by its name"))
    head = data[:4096]
    if not head.strip(b"\x00"):
        raise QuarantineError(
            f"{name} is not an image (it starts with {len(head)} zero bytes): the copy "
            "probably failed; copy it again from the camera"
        )
    raise QuarantineError(f"{name} is not an image ({_looks_like(data)}): copy the panorama again")


def _looks_like(data: bytes) -> str:
    """A few words on what unrecognised bytes are, for a field technician.

    It describes the file and never quotes it: the reason is shown on the status page, and
    an inbox can receive anything (a password file, a private key).
    """
    size = f"{len(data):,} bytes"
    sample = data[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; anything earlier is binary.
        text = sample[: exc.start].decode("utf-8") if exc.start >= len(sample) - 3 else ""
    text = text.removeprefix("\ufeff")
    if text.strip() and all(c.isprintable() or c in "\t\n\r" for c in text):
        start = text.lstrip().lower()
        for prefix, kind in _TEXT_KINDS:
            if start.startswith(prefix):
                return f"it is {kind}, {size}"
        return f"it is a text file, {size}"
    return f"it is binary data of no format panodock knows, {size}; not a JPEG, TIFF or PNG file"


def _load(data: bytes, fmt: str, name: str, *, fail_on: str = "truncated") -> pyvips.Image:
    """Open the bytes lazily with the one loader their signature names."""
    try:
        image: pyvips.Image = pyvips.Operation.call(
            _LOADERS[fmt], data, access="sequential", fail_on=fail_on
        )
        return image
    except pyvips.Error as exc:
        raise QuarantineError(f"{name} is truncated or corrupt: {_reason(exc)}") from exc


def _to_srgb8(image: pyvips.Image, name: str) -> pyvips.Image:
    """Lazy conversion to 3-band 8-bit sRGB; nothing is computed until pixels are read."""
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if image.interpretation != "srgb" or image.format != "uchar":
        try:
            image = image.colourspace("srgb")
        except pyvips.Error as exc:
            raise QuarantineError(
                f"{name} has pixels panodock cannot convert to colour ({_layout(image)}): "
                f"{_reason(exc)}; export it as an 8-bit RGB JPEG"
            ) from exc
    if image.bands == 1:
        image = image.bandjoin([image, image])
    if image.bands != 3 or image.format != "uchar":
        raise QuarantineError(
            f"{name} has pixels panodock cannot convert to colour ({_layout(image)}); "
            "export it as an 8-bit RGB JPEG"
        )
    return image


def _layout(image: pyvips.Image) -> str:
    return f"{image.bands} bands of {image.format}, {image.interpretation}"


def _reason(exc: pyvips.Error) -> str:
    """libvips' explanation on one line: its detail lines, de-duplicated, prefixes dropped."""
    lines: list[str] = []
    for line in (exc.detail or exc.message or "").splitlines():
        # "VipsJpeg: premature end..." -> drop the one-word libvips domain, keep the rest.
        domain, _, rest = line.partition(": ")
        text = (rest if rest and " " not in domain else line).strip()
        if text and text not in lines:
            lines.append(text)
    return "; ".join(lines)[:300] or "libvips gave no reason"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}"


def configure_libvips() -> None:
    """Process-wide libvips settings for a process that decodes untrusted images.

    No operation cache: each original is decoded once, so the cache would only keep a
    decoded image (100 MB at 8K) alive after the job. Untrusted loaders blocked, as a second
    guard behind the format sniffing above. Call once, from an entry point.
    """
    pyvips.cache_set_max(0)
    pyvips.block_untrusted_set(True)
