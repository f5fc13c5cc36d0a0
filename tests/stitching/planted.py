"""The planted-face set: real face photographs pasted on a panorama at seeded random places.

Shared by the recall tests (tests/stitching/test_privacy_recall.py) and the benchmark
(tests/bench/privacy.py). Each photograph is pasted face-on to the camera (``plant`` of
tests/stitching/test_privacy.py) at a random yaw, a pitch uniform on the sphere within
+-70 deg, and a side from :data:`CROP_SIZES` (the face is about half of it), turned by
the set's rolls in turn; photographs never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from stitching.privacy import FaceRegion
from tests.stitching.test_privacy import FACES_DIR, angle_deg, direction, plant

PHOTOS = ("astronaut", "cameraman", "boy_highfive", "goalie_poster")
#: Photograph sides in degrees; the face is about half of it.
CROP_SIZES = (6.0, 9.0, 12.0, 18.0, 24.0)
FACES_PER_SCENE = 12
BANDS = ("|pitch| <= 30", "|pitch| > 30")
#: Face rolls of each planted set, degrees, cycled over the faces of a scene.
SETS = {"upright": (0.0,), "rolled 90/-90/180": (90.0, -90.0, 180.0), "rolled 45": (45.0,)}

#: A planted face: (yaw, pitch, photograph side), degrees.
Placed = tuple[float, float, float]


def photos() -> list[np.ndarray]:
    """The face photographs of tests/data/faces, uint8 BGR."""
    out = []
    for name in PHOTOS:
        img = cv2.imread(str(FACES_DIR / f"{name}.jpg"), cv2.IMREAD_COLOR)
        assert img is not None, f"cannot read {name}.jpg"
        out.append(img)
    return out


def band(pitch: float) -> str:
    return BANDS[0] if abs(pitch) <= 30.0 else BANDS[1]


def turned(photo: np.ndarray, roll_deg: float) -> np.ndarray:
    """The photograph turned by ``roll_deg`` counter-clockwise about its centre."""
    if roll_deg % 90 == 0:
        return np.ascontiguousarray(np.rot90(photo, round(roll_deg / 90) % 4))
    side = photo.shape[0]
    m = cv2.getRotationMatrix2D((side / 2 - 0.5, side / 2 - 0.5), roll_deg, 1.0)
    return cv2.warpAffine(photo, m, (side, side), borderMode=cv2.BORDER_REFLECT)


def scene(
    background: np.ndarray, faces: list[np.ndarray], rng: np.random.Generator,
    rolls: Sequence[float], count: int = FACES_PER_SCENE,
) -> tuple[np.ndarray, list[Placed]]:  # fmt: skip
    """A panorama with ``count`` faces at random places that do not overlap."""
    img = background.copy()
    placed: list[Placed] = []
    while len(placed) < count:
        size = float(rng.choice(CROP_SIZES))
        yaw = float(rng.uniform(-180.0, 180.0))
        pitch = math.degrees(math.asin(rng.uniform(-1.0, 1.0) * math.sin(math.radians(70.0))))
        here = direction(yaw, pitch)
        if all(angle_deg(here, direction(y, p)) > (size + s) * 0.75 + 2.0 for y, p, s in placed):
            photo = turned(faces[len(placed) % len(faces)], rolls[len(placed) % len(rolls)])
            plant(img, photo, yaw, pitch, size)
            placed.append((yaw, pitch, size))
    return img, placed


def score(
    regions: Sequence[FaceRegion], placed: Sequence[Placed]
) -> tuple[dict[str, tuple[int, int]], int]:
    """(found, planted) per pitch band and ``"all"``, and the false positives.

    A face counts as found when a region's centre is within a third of its photograph's
    side of the planted centre; a region whose centre is outside every photograph is a
    false positive (a photograph may hold a second, smaller face).
    """
    centres = [direction(r.yaw_deg, r.pitch_deg) for r in regions]
    found = dict.fromkeys(BANDS, 0)
    planted = dict.fromkeys(BANDS, 0)
    for yaw, pitch, size in placed:
        here = direction(yaw, pitch)
        planted[band(pitch)] += 1
        found[band(pitch)] += any(angle_deg(c, here) < size / 3 for c in centres)
    false = sum(
        all(angle_deg(c, direction(y, p)) > 0.75 * s for y, p, s in placed) for c in centres
    )
    out = {b: (found[b], planted[b]) for b in BANDS}
    out["all"] = (sum(found.values()), sum(planted.values()))
    return out, false
