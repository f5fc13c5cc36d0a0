"""The capture-kind decision: is it an equirect, a dual-fisheye frame or a multi-shot set?

One rule each, used by the pipeline and the capture sources alike: the 2:1 aspect of a full
equirect, the two dark-bordered circles of a dual-fisheye frame, and when two files are one
camera's two lenses.
"""

from __future__ import annotations

import math
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


#: File extensions that say what a camera writes: an Insta360 ``.insp`` photo holds the two
#: unstitched circles, whatever projection its GPano metadata (if any) claims.
KIND_BY_SUFFIX: Final[dict[str, CaptureKind]] = {".insp": "dual_fisheye"}


def kind_from_name(name: str) -> CaptureKind | None:
    """The kind a file's extension says its camera writes (``IMG_1.insp``: dual_fisheye)."""
    lowered = name.lower()
    return next((k for suffix, k in KIND_BY_SUFFIX.items() if lowered.endswith(suffix)), None)


def looks_dual_fisheye(img: np.ndarray) -> bool:
    """Whether a frame is two dark-bordered fisheye circles side by side."""
    if img.ndim < 2 or img.size == 0:
        return False
    return detect_circles(img) is not None


def single_image_kind(
    image: np.ndarray,
    *,
    declared: str | None,
    projection: str | None,
    name: str = "",
    unstitched: bool = False,
) -> CaptureKind:
    """The kind of a one-image capture.

    Parameters
    ----------
    image:
        The decoded uint8 (H, W, 3) image.
    declared:
        The sidecar's ``kind``, if any: it wins.
    projection:
        The GPano ``ProjectionType``, if any: "equirectangular" rules out a fisheye frame,
        except in a file whose name says it is a dual-fisheye frame (:func:`kind_from_name`):
        there the circles alone decide.
    name:
        The file name.
    unstitched:
        The file's content says its camera wrote it unstitched (an Insta360 trailer, see
        ``ingest.camera_files.is_insta360_photo``), whatever its name: as for the name.
    """
    if declared == "dual_fisheye":
        return "dual_fisheye"
    if unstitched or kind_from_name(name) == "dual_fisheye":
        projection = None
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


#: Most exposures of one position panodock fuses (the sidecar's ``brackets`` limit too).
MAX_BRACKETS: Final = 9
#: Exposures closer than this (EV) count as one exposure: not brackets.
MIN_BRACKET_STEP_EV: Final = 0.25

BracketEvidence = Literal["sidecar", "exif"]


def exposure_steps(
    times_s: Sequence[float | None], biases_ev: Sequence[float | None]
) -> list[float] | None:
    """Each image's exposure in EV relative to the middle one, from its EXIF; None if unknown.

    ``ExposureTime`` is what a camera varies when it brackets (aperture and ISO stay): then
    EV = log2(t / t_middle), brighter positive. When the times are missing or all equal,
    ``ExposureBiasValue`` is taken as it is, if every image has one. Values in 1/100 EV.
    """
    if times_s and all(t is not None and t > 0 for t in times_s):
        times = [float(t) for t in times_s if t is not None]
        if len(set(times)) > 1 or not all(b is not None for b in biases_ev):
            middle = sorted(times)[(len(times) - 1) // 2]
            return [round(math.log2(t / middle), 2) for t in times]
    if biases_ev and all(b is not None for b in biases_ev):
        return [round(float(b), 2) for b in biases_ev if b is not None]
    return None


def bracket_set(
    sizes: Sequence[tuple[int, int]],
    exposures_ev: Sequence[float] | None,
    *,
    names: Sequence[str],
    declared_kind: str | None,
    declared_brackets: int | None,
) -> BracketEvidence | None:
    """Whether a capture's images are exposures of one position (HDR brackets), and why.

    Parameters
    ----------
    sizes:
        (width, height) of each image, in name order.
    exposures_ev:
        :func:`exposure_steps` of the images, None when their EXIF does not say.
    names:
        The file names, for messages.
    declared_kind:
        The sidecar's ``kind``: ``multishot`` means positions of a rotating head, whose
        brackets (``rig.brackets``) the multi-shot stitcher fuses itself.
    declared_brackets:
        The sidecar's ``brackets``, if any: it wins (1: not bracketed).

    Returns
    -------
    "sidecar" | "exif" | None
        ``sidecar`` when the sidecar says so; ``exif`` for 2..:data:`MAX_BRACKETS` images of
        one size whose exposures all differ by at least :data:`MIN_BRACKET_STEP_EV` (the
        caller still checks they show one view, :func:`stitching.hdr.align_brackets`);
        None otherwise: images of different sizes are never brackets.

    Raises
    ------
    CaptureError
        The sidecar says ``brackets`` but the images are not that many, or not of one size.
    """
    count = len(sizes)
    if declared_kind == "multishot" or declared_brackets == 1:
        return None
    one_size = len(set(sizes)) == 1
    if declared_brackets is not None:
        if declared_brackets != count:
            raise CaptureError(
                f"the sidecar says {declared_brackets} brackets of one position, but the "
                f"capture has {count} images ({', '.join(names)}); for a rotating head's "
                "set with brackets at each position, say kind 'multishot' and rig.brackets"
            )
        if not one_size:
            listed = ", ".join(f"{n} {w}x{h}" for n, (w, h) in zip(names, sizes, strict=True))
            raise CaptureError(
                f"the sidecar says brackets, which are exposures of one size; got {listed}"
            )
        return "sidecar"
    if count < 2 or not one_size or count > MAX_BRACKETS or exposures_ev is None:
        return None
    ordered = sorted(exposures_ev)
    if any(b - a < MIN_BRACKET_STEP_EV for a, b in zip(ordered, ordered[1:], strict=False)):
        return None
    return "exif"
