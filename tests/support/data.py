"""The data files panodock ships, read the way the workers read them (at the edge)."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from config.data import FACE_MODEL, LENSES_TOML
from stitching.dual_fisheye import stitch_dual_fisheye
from stitching.frames import StitchResult
from stitching.lens import LensProfile, parse_profiles
from stitching.privacy import FaceDetector


@cache
def builtin_profiles() -> dict[str, LensProfile]:
    """The lens profiles of ``config/lenses.toml``."""
    return parse_profiles(LENSES_TOML.read_text(encoding="utf-8"))


def face_detector(threshold: float = 0.5) -> FaceDetector:
    """The shipped CenterFace detector."""
    return FaceDetector.from_onnx(FACE_MODEL.read_bytes(), threshold=threshold)


def stitch_builtin(img: np.ndarray, **kwargs: Any) -> StitchResult:
    """:func:`stitching.dual_fisheye.stitch_dual_fisheye` with the shipped lens profiles."""
    return stitch_dual_fisheye(img, profiles=builtin_profiles(), **kwargs)
