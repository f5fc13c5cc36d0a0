"""Files as 360° cameras write them: Insta360 ``.insp``, Theta DNG raws, and videos.

- **Insta360 ``.insp``** photos are JPEGs holding the two unstitched fisheye circles, with
  a vendor trailer after the image's end marker that ends with the ASCII text
  :data:`INSTA360_MAGIC` (ExifTool's JPEG trailer table recognises it the same way). The
  JPEG loader stops at the end marker, so the trailer is ignored for decoding and kept,
  like every byte, in the archived original. The name
  (:func:`stitching.kinds.kind_from_name`) or the trailer (:func:`is_insta360_photo`, for
  a file renamed to ``.jpg``) says the pixels are unstitched, whatever a GPano tag claims;
  the two circles are still checked. The EXIF model picks the Insta360 lens profile
  (``config/lenses.toml``).
- **DNG** raws (a Ricoh Theta Z1's "RAW+" writes one whose image is the dual-fisheye frame)
  are TIFF files with a ``DNGVersion`` tag (Adobe DNG specification 1.4, tag 50706). They
  are decoded by LibRaw through ``rawpy`` (a PyPI wheel that bundles LibRaw): camera white
  balance, no automatic brightening, no rotation (a panorama keeps its stored layout),
  8-bit sRGB. Where that decode fails, the capture is quarantined with a reason that names
  converters to use instead.
- **Videos** (``.insv``, ``.mp4``, ``.mov``...) are archived and quarantined with a reason
  that says so: panodock makes scenes of 360° photos, not video walkthroughs.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, Final

import numpy as np

from config.errors import QuarantineError

#: Names of camera videos: Insta360 ``.insv``, MP4/MOV of any camera, GoPro Max ``.360``.
VIDEO_SUFFIXES: Final = (".insv", ".mp4", ".mov", ".360", ".avi", ".mkv")
#: Insta360's name for its dual-fisheye photos.
INSP_SUFFIX: Final = ".insp"
#: The last bytes of an Insta360 file (its trailer's signature, 32 ASCII characters).
INSTA360_MAGIC: Final = b"8db42d694ccc418790edff439fe026bf"
#: DNG's own tag in IFD0 (Adobe DNG specification 1.4.0.0, "DNGVersion").
DNG_VERSION_TAG: Final = 50706
#: What to do with a raw panodock cannot decode.
RAW_CONVERTERS: Final = (
    "convert it to a 16-bit TIFF or a JPEG first (Adobe DNG Converter / Lightroom, darktable, "
    "RawTherapee, or the camera maker's app) and copy that"
)


def is_video_name(name: str) -> bool:
    """Whether ``name`` is a camera video by its extension."""
    return name.lower().endswith(VIDEO_SUFFIXES)


def video_reason(name: str, what: str = "a video") -> str:
    """The quarantine reason of a video file (the original stays archived)."""
    return (
        f"{name} is not an image (it is {what}): video walkthroughs are not processed; the "
        "original is archived. Take a 360° photo at each spot for a scene"
    )


def is_insta360_photo(data: bytes) -> bool:
    """Whether ``data`` is a JPEG that ends with an Insta360 trailer (an unstitched photo)."""
    return data[:3] == b"\xff\xd8\xff" and data[-len(INSTA360_MAGIC) :] == INSTA360_MAGIC


def is_dng(data: bytes) -> bool:
    """Whether TIFF bytes carry a ``DNGVersion`` tag in their first IFD.

    Only the bytes given are read: a first IFD that lies beyond them gives False (cameras
    put IFD0 right after the 8-byte header).
    """
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8 or struct.unpack(order + "H", data[2:4])[0] != 42:
        return False
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return False
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    for i in range(min(count, 512)):
        at = offset + 2 + 12 * i
        if at + 2 > len(data):
            return False
        if struct.unpack(order + "H", data[at : at + 2])[0] == DNG_VERSION_TAG:
            return True
    return False


def probe_dng(source: bytes | Path, *, name: str) -> tuple[int, int]:
    """Width and height of a DNG's image as LibRaw will decode it, without decoding it.

    Raises
    ------
    QuarantineError
        LibRaw cannot read the file; the message names converters.
    """
    with _open_raw(source, name) as raw:
        return int(raw.sizes.width), int(raw.sizes.height)


def decode_dng(data: bytes, *, name: str) -> np.ndarray:
    """Decode a DNG into 8-bit BGR pixels (module docstring for the choices).

    Returns
    -------
    numpy.ndarray
        uint8 array of shape (height, width, 3), channels in B, G, R order, C-contiguous.

    Raises
    ------
    QuarantineError
        LibRaw cannot decode it; the message names converters.
    """
    import rawpy

    with _open_raw(data, name) as raw:
        try:
            rgb = raw.postprocess(
                use_camera_wb=True, no_auto_bright=True, user_flip=0, output_bps=8,
                gamma=(2.4, 12.92), output_color=rawpy.ColorSpace.sRGB,
            )  # fmt: skip
        except (rawpy.LibRawError, MemoryError) as exc:
            raise QuarantineError(_raw_reason(name, exc)) from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _open_raw(source: bytes | Path, name: str) -> Any:
    try:
        import rawpy
    except ImportError as exc:  # rawpy is a dependency; a broken install still says why
        raise QuarantineError(
            f"{name} is a DNG raw file and rawpy (LibRaw), which decodes it, is not installed "
            f"here (pip install rawpy); or {RAW_CONVERTERS}"
        ) from exc
    try:
        if isinstance(source, Path):
            return rawpy.imread(str(source))
        return rawpy.imread(io.BytesIO(source))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise QuarantineError(_raw_reason(name, exc)) from exc


def _raw_reason(name: str, exc: BaseException) -> str:
    detail = str(exc).strip() or type(exc).__name__
    return f"{name} is a DNG raw file that LibRaw cannot decode ({detail[:200]}); {RAW_CONVERTERS}"
