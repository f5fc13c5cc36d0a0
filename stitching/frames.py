"""What the stitchers take and give: a capture's frames and a stitched result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One image of a capture: its file name (for messages) and uint8 (H, W, 3) BGR pixels.

    ``exposure_ev`` is the exposure value relative to the bracket's middle (None when not
    bracketed or unknown); ``position`` groups the brackets shot at one head position.
    """

    name: str
    image: np.ndarray
    exposure_ev: float | None = None
    position: int | None = None


@dataclass(slots=True)
class StitchResult:
    """A stitched full-sphere panorama and the story of how it was made."""

    equirect: np.ndarray  # uint8 (H, 2H, 3) BGR, full sphere
    kind: str  # "dual_fisheye" | "multishot"
    frames_used: list[str]
    frames_unplaced: list[str]
    warnings: list[str] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)
    pitch_deg: float | None = None
    roll_deg: float | None = None
