"""A dual-fisheye camera's lenses placed in a concrete frame, and where directions land.

:func:`geometry_for` turns a :class:`~stitching.lens.LensProfile` with concrete circles into
the pixel figures of one frame size; :func:`lens_coords` takes world directions to a lens's
image (the projection model, Hugin's radial polynomial) and says how far inside the usable
rim they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stitching.lens import Lens, LensProfile, projection_radius

#: Part of each circle's rim left out of the blend and the seam strip: the outer ~1 % of a
#: fisheye circle is soft and dark.
RIM_MARGIN = 0.01


@dataclass(frozen=True, slots=True)
class LensGeometry:
    """One lens placed in a concrete frame: everything a map needs, in px of that frame."""

    lens: Lens
    centre: tuple[float, float]  # (x, y), pixel centres at +0.5
    radius: float
    rotation: tuple[float, ...]  # row-major 3x3, world -> lens axes
    norm: float  # a/b/c normalisation radius
    vignetting_norm: float

    def matrix(self) -> np.ndarray:
        """float64 (3, 3) rotation taking world directions into this lens's axes."""
        return np.array(self.rotation, dtype=np.float64).reshape(3, 3)

    def half_fov(self) -> float:
        """Half the field of view in radians."""
        return math.radians(self.lens.fov_deg) / 2.0


@dataclass(frozen=True, slots=True)
class Geometry:
    """Both lenses of a frame of ``size`` (width, height)."""

    lenses: tuple[LensGeometry, LensGeometry]
    size: tuple[int, int]


def geometry_for(profile: LensProfile, width: int, height: int) -> Geometry:
    """Place a profile with concrete circles (see :meth:`LensProfile.scaled`) in a frame.

    Raises
    ------
    ValueError
        A lens has no centre or radius (detect the circles first).
    """
    scaled = profile.scaled(width, height)
    ref_w, ref_h = scaled.frame_size or (width, height)
    placed = []
    for i, lens in enumerate(scaled.lenses):
        if lens.centre is None or lens.radius is None:
            raise ValueError(f"profile {profile.name}: lens {i} has no circle centre/radius")
        placed.append(
            LensGeometry(
                lens=lens,
                centre=lens.centre,
                radius=lens.radius,
                rotation=tuple(float(v) for v in lens.rotation().ravel()),
                norm=min(ref_w, ref_h) / 2.0,
                vignetting_norm=math.hypot(ref_w, ref_h) / 2.0,
            )
        )
    return Geometry(lenses=(placed[0], placed[1]), size=(width, height))


def lens_coords(
    geo: LensGeometry, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where world directions land in a lens's image.

    Parameters
    ----------
    x, y, z:
        float32 arrays of one shape: direction components in world axes (any length).

    Returns
    -------
    tuple of np.ndarray
        (col, row, margin): source coordinates in cv2.remap's convention (pixel centres at
        integers) and the angle in radians between the direction and the lens's usable
        rim (positive inside the circle), all float32 of the input shape.
    """
    m = geo.matrix().astype(np.float32)
    lx = m[0, 0] * x + m[0, 1] * y + m[0, 2] * z
    ly = m[1, 0] * x + m[1, 1] * y + m[1, 2] * z
    lz = m[2, 0] * x + m[2, 1] * y + m[2, 2] * z
    rho = np.sqrt(lx * lx + ly * ly)
    theta = np.arctan2(rho, lz)
    lens = geo.lens
    r = (geo.radius / projection_radius(lens.projection, geo.half_fov())) * projection_radius(
        lens.projection, theta
    )
    if lens.a or lens.b or lens.c:
        rn = r / np.float32(geo.norm)
        d = 1.0 - lens.a - lens.b - lens.c
        r = ((np.float32(lens.a) * rn + np.float32(lens.b)) * rn + np.float32(lens.c)) * rn
        r = (r + np.float32(d)) * rn * np.float32(geo.norm)
    safe = np.maximum(rho, np.float32(1e-12))
    col = np.float32(geo.centre[0] - 0.5) + r * lx / safe
    row = np.float32(geo.centre[1] - 0.5) - r * ly / safe
    margin = np.float32(geo.half_fov() * (1.0 - RIM_MARGIN)) - theta
    return col.astype(np.float32), row.astype(np.float32), margin.astype(np.float32)
