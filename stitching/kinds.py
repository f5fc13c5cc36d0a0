"""The capture-kind decision: is it an equirect, a dual-fisheye frame or a multi-shot set?

One rule each, used by the pipeline and the capture sources alike: the 2:1 aspect of a full
equirect, the two dark-bordered circles of a dual-fisheye frame, and when two files are one
camera's two lenses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import numpy as np

from config.errors import CaptureError
from stitching.circles import detect_circles
from stitching.frames import Frame

CaptureKind = Literal["equirect", "dual_fisheye", "multishot"]

#: How far ``width / height`` of a full equirect may be from 2 (cameras emit e.g. 5376x2688
#: exactly, but some editors round one side).
EQUIRECT_ASPECT_TOLERANCE: Final = 0.02


def is_equirect_aspect(width: float, height: float) -> bool:
    """Whether a ``width`` x ``height`` image has the 2:1 aspect of a full equirect."""
    return height > 0 and abs(width / height - 2.0) <= EQUIRECT_ASPECT_TOLERANCE


def looks_dual_fisheye(img: np.ndarray) -> bool:
    """Whether a frame is two dark-bordered fisheye circles side by side."""
    if img.ndim < 2 or img.size == 0:
        return False
    return detect_circles(img) is not None


def single_image_kind(
    image: np.ndarray, *, declared: str | None, projection: str | None
) -> CaptureKind:
    """The kind of a one-image capture.

    Parameters
    ----------
    image:
        The decoded uint8 (H, W, 3) image.
    declared:
        The sidecar's ``kind``, if any: it wins.
    projection:
        The GPano ``ProjectionType``, if any: "equirectangular" rules out a fisheye frame.
    """
    if declared == "dual_fisheye":
        return "dual_fisheye"
    if declared is None and (projection or "").lower() != "equirectangular":
        if looks_dual_fisheye(image):
            return "dual_fisheye"
    return "equirect"


def lens_pair(frames: Sequence[Frame], declared: str | None) -> np.ndarray | None:
    """Two files of a camera that writes one per lens, as one side-by-side frame, or None.

    The first file (in name order) is the front lens and goes on the right, where a
    dual-fisheye frame has lens 0. Taken when the sidecar says ``dual_fisheye`` or when
    the joined frame shows two fisheye circles; any other pair is a multi-shot set.

    Raises
    ------
    CaptureError
        The sidecar says ``dual_fisheye`` but the files are not two of one size.
    """
    if declared == "dual_fisheye" and (
        len(frames) != 2 or frames[0].image.shape != frames[1].image.shape
    ):
        sizes = ", ".join(f"{f.name} {f.image.shape[1]}x{f.image.shape[0]}" for f in frames)
        raise CaptureError(
            f"the sidecar says dual_fisheye, which is one frame with both circles or two "
            f"frames of one size (one per lens); got {sizes}"
        )
    if len(frames) != 2 or declared == "multishot":
        return None
    front, back = frames
    if front.image.shape != back.image.shape:
        return None
    joined = np.hstack([back.image, front.image])
    return joined if declared == "dual_fisheye" or looks_dual_fisheye(joined) else None
