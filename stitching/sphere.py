"""Sphere maths: equirect pixel <-> direction, rotations, cube faces, wrapped remapping.

The one home of the conventions the stitchers, face blurring and the cube tiles share
(the published tile contract depends on them); pure array code, no I/O.

Directions. World axes: x right, y up, z forward. The direction of (yaw psi, pitch theta)
is (cos theta sin psi, sin theta, cos theta cos psi), yaw + to the right, pitch + up.

Equirect pixels. In a W x H equirect, column u = (psi / 2pi + 0.5) W and row
v = (0.5 - theta / pi) H, with pixel centres at +0.5: yaw 0 is the centre column, and the
image wraps horizontally at yaw +-180 deg. cv2.remap puts pixel centres at integers, so
the source coordinates built here are ``u - 0.5, v - 0.5``.

Rotations. A rotation handed to a remap takes a levelled world direction to the direction
in the source image. :func:`pose_rotation` builds it from GPano pose angles (Google's Photo
Sphere XMP spec and the aerospace heading/pitch/roll it follows):

- ``PosePitchDegrees``: pitch of the image centre in degrees *above the horizon*
  (camera nose up is positive), -90..90.
- ``PoseRollDegrees``: roll in degrees, 0 = level; "as roll increases, the horizon rotates
  counterclockwise in the image", i.e. the camera is rolled clockwise as seen from behind
  (right side down, a right bank), -180..180.
- ``PoseHeadingDegrees``: compass heading of the image centre, clockwise from north. It is
  recorded as metadata, not baked into pixels, so it defaults to 0 here.
- The angles are applied as intrinsic heading, then pitch, then roll: the camera's
  orientation in the world is ``Yaw(heading) @ Pitch(pitch) @ Roll(roll)``, each a
  rotation about the camera's current up, right and forward axis in the sense above.

That orientation takes a camera (source image) direction to a world direction; the
levelling rotation is its inverse.

Cube faces. Face orientation follows Hugin's nona and Pannellum's generate.py (verified in
Pannellum, Marzipano and Photo Sphere Viewer). With a = 2(i + 0.5)/N - 1 for column i
(left to right) and b = 2(j + 0.5)/N - 1 for row j (top to bottom), face pixel (j, i)
looks along::

    f: ( a, -b,  1)   b: (-a, -b, -1)   l: (-1, -b,  a)   r: ( 1, -b, -a)
    u: ( a,  1,  b)   d: ( a, -1, -b)

the top of ``u`` points backwards, the top of ``d`` forwards. Continuous face coordinates
put pixel (j, i)'s centre at (i + 0.5, j + 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

#: Taps each side of a sample that cv2.remap reads, per interpolation flag.
KERNEL_RADIUS: dict[int, int] = {
    cv2.INTER_NEAREST: 1,
    cv2.INTER_LINEAR: 1,
    cv2.INTER_CUBIC: 2,
    cv2.INTER_LANCZOS4: 4,
}

#: The cube faces, in the order tiles, strips and :func:`direction_to_face` use.
FACES = ("f", "b", "u", "d", "l", "r")

# Rows: the world direction of +a (column axis), of +b (row axis) and of the face centre,
# so the direction of (a, b) is (a, b, 1) @ basis.
_BASIS: dict[str, np.ndarray] = {
    "f": np.array([[1, 0, 0], [0, -1, 0], [0, 0, 1]], dtype=np.float64),
    "b": np.array([[-1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=np.float64),
    "u": np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float64),
    "d": np.array([[1, 0, 0], [0, 0, -1], [0, -1, 0]], dtype=np.float64),
    "l": np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], dtype=np.float64),
    "r": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=np.float64),
}


def equirect_coords(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Source pixel coordinates of directions in a ``width`` x ``height`` equirect.

    Parameters
    ----------
    x, y, z:
        float32 or float64 direction components in world axes, broadcastable to one shape;
        need not be unit length (never zero). Separate contiguous arrays are ~3x faster
        than the strided channels of an (..., 3) array.

    Returns
    -------
    tuple of np.ndarray
        (col, row), the broadcast shape, dtype of the inputs, in cv2.remap's convention
        (pixel centres at integers): col in [-0.5, width - 0.5], row in
        [-0.5, height - 0.5]. Rows are not clamped; see :func:`fixed_point_maps`.
    """
    yaw = np.arctan2(x, z)
    # atan2 against the horizontal length stays accurate at the poles, where arcsin of a
    # float32 y does not, and needs no normalisation.
    pitch = np.arctan2(y, np.sqrt(x * x + z * z))
    col = yaw * (width / (2.0 * math.pi)) + (width / 2.0 - 0.5)
    row = (height / 2.0 - 0.5) - pitch * (height / math.pi)
    return col, row


def fixed_point_maps(
    col: np.ndarray, row: np.ndarray, height: int, interpolation: int = cv2.INTER_LINEAR
) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps (CV_16SC2 + fraction table) for sampling a source of ``height`` rows.

    The source is sampled with ``BORDER_WRAP`` (see :func:`remap_wrapped`), which is right
    across the yaw seam but would fetch the opposite pole's rows above the top and below the
    bottom. So rows are clamped to keep every tap of the kernel inside the image: for
    bilinear and nearest this is exactly "replicate the pole row"; for bicubic and Lanczos
    it moves samples at most 1 or 3 source rows towards the equator, at the poles only.

    Parameters
    ----------
    col, row:
        float32, same shape (h, w): source coordinates from :func:`equirect_coords`.
        ``row`` is clamped in place.

    Raises
    ------
    ValueError
        The interpolation is not one cv2.remap supports.
    """
    radius = kernel_radius(interpolation)
    np.clip(row, radius - 1, max(radius - 1, height - radius), out=row)
    map1, map2 = cv2.convertMaps(
        col, row, cv2.CV_16SC2, nninterpolation=interpolation == cv2.INTER_NEAREST
    )
    return map1, map2


def remap_wrapped(
    img: np.ndarray, maps: tuple[np.ndarray, np.ndarray], interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Sample an equirect at :func:`fixed_point_maps` coordinates, wrapping at yaw +-180 deg.

    Returns
    -------
    np.ndarray
        Same dtype and channels as ``img``, shape of the maps.
    """
    return cv2.remap(img, maps[0], maps[1], interpolation, borderMode=cv2.BORDER_WRAP)


def kernel_radius(interpolation: int) -> int:
    """Taps each side of a sample for a cv2.remap interpolation flag; ValueError if unknown."""
    try:
        return KERNEL_RADIUS[interpolation]
    except KeyError:
        raise ValueError(
            f"interpolation {interpolation} is not supported by cv2.remap; use one of "
            "INTER_NEAREST, INTER_LINEAR, INTER_CUBIC, INTER_LANCZOS4"
        ) from None


def as_rotation(rotation: np.ndarray | None) -> np.ndarray | None:
    """Check a 3x3 rotation; returns float64, or None for None or the identity.

    Raises
    ------
    ValueError
        Not 3x3, or not orthonormal with determinant +1 (a mirror is not a pose).
    """
    if rotation is None:
        return None
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3):
        raise ValueError(f"rotation must be 3x3, got shape {r.shape}")
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
        raise ValueError(f"rotation is not a proper rotation matrix: {r.tolist()}")
    if np.allclose(r, np.eye(3), atol=1e-12):
        return None
    return r


def rotation_from_vector(omega: np.ndarray) -> np.ndarray:
    """float64 (3, 3) rotation of a rotation vector (axis times angle in radians, Rodrigues)."""
    rot, _ = cv2.Rodrigues(np.asarray(omega, dtype=np.float64).reshape(3, 1))
    return np.asarray(rot, dtype=np.float64)


def pose_rotation(pitch_deg: float, roll_deg: float, yaw_deg: float = 0.0) -> np.ndarray:
    """Rotation that levels a capture taken at a GPano pitch/roll (and optional yaw).

    Pass the result as ``rotation`` to :meth:`tiling.cube.CubeProjector.project_face` or
    :func:`stitching.equirect.rotate_equirect`.

    Parameters
    ----------
    pitch_deg:
        GPano PosePitchDegrees: degrees the image centre looks above the horizon.
    roll_deg:
        GPano PoseRollDegrees: degrees of roll, positive = the horizon turns
        counterclockwise in the image (camera right side down).
    yaw_deg:
        Degrees the camera's forward direction points right of the output's centre. 0 keeps
        the capture's own centre (the default, since heading stays metadata); passing the
        PoseHeadingDegrees would put north at the centre.

    Returns
    -------
    np.ndarray
        float64 (3, 3) orthonormal matrix R taking a levelled world direction d to the
        direction ``R @ d`` in the source image. For example, with pitch 10 the source
        image's centre ``R @ d = (0, 0, 1)`` is seen at d = 10 deg above the horizon.
    """
    orientation = _yaw(yaw_deg) @ _pitch(pitch_deg) @ _roll(roll_deg)
    return orientation.T


def _yaw(deg: float) -> np.ndarray:
    # Turns forward (z) towards the right (x): a heading clockwise seen from above.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _pitch(deg: float) -> np.ndarray:
    # Turns forward (z) up (y): nose up.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _roll(deg: float) -> np.ndarray:
    # Turns right (x) down (-y): clockwise about forward as seen from behind the camera.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def face_directions(face: str, size: int) -> np.ndarray:
    """Unit view direction of every pixel centre of a cube face.

    Parameters
    ----------
    face:
        One of :data:`FACES`.
    size:
        Face side in px.

    Returns
    -------
    np.ndarray
        float32, shape (size, size, 3): [row, column] -> (x, y, z) world axes.

    Raises
    ------
    ValueError
        Unknown face or size < 1.
    """
    basis = _basis(face)
    t = _face_axis(size)
    a, b = np.meshgrid(t, t)
    rays = np.stack([a, b, np.ones_like(a)], axis=-1) @ basis
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    return rays.astype(np.float32)


def direction_to_face(
    direction: Sequence[float] | np.ndarray, size: int
) -> tuple[str, float, float]:
    """The cube face a direction falls on and where, in continuous face pixel coordinates.

    Parameters
    ----------
    direction:
        (x, y, z) in world axes, any non-zero length.
    size:
        Face side in px.

    Returns
    -------
    tuple
        ``(face, col, row)`` with col, row in [0, size]; pixel (j, i) spans
        [i, i + 1) x [j, j + 1), so its centre is (i + 0.5, j + 0.5). Directions exactly
        on an edge go to the first face in f, b, u, d, l, r order that contains them.

    Raises
    ------
    ValueError
        A zero or non-finite direction.
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(d)) or not np.any(d):
        raise ValueError(f"direction must be finite and non-zero, got {d.tolist()}")
    reach = np.abs(d).max()
    for face in FACES:
        a, b, out = _BASIS[face] @ d
        if out > 0 and out >= reach * (1 - 1e-12):
            return face, float((a / out + 1.0) * size / 2.0), float((b / out + 1.0) * size / 2.0)
    raise AssertionError(f"no cube face contains {d.tolist()}")  # pragma: no cover


def face_maps(
    face: str, face_size: int, width: int, height: int, *, rotation: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Float source coordinates in a ``width`` x ``height`` equirect for every face pixel.

    Parameters
    ----------
    rotation:
        3x3 matrix taking a levelled world direction to the direction in the source
        image (None = identity).

    Returns
    -------
    tuple of np.ndarray
        (col, row), float32 (face_size, face_size), cv2.remap convention (pixel centres
        at integers), rows not clamped.

    Raises
    ------
    ValueError
        Unknown face, face_size < 1, or ``rotation`` not a rotation.
    """
    # The source direction is affine in (a, b): (a, b, 1) @ basis @ R.T, so build the three
    # components from a row and a column vector instead of a full (N, N, 3) ray array.
    m = _basis(face)
    r = as_rotation(rotation)
    if r is not None:
        m = m @ r.T
    m32 = m.astype(np.float32)
    t = _face_axis(face_size).astype(np.float32)
    a, b = t[None, :], t[:, None]
    x, y, z = (a * m32[0, k] + (b * m32[1, k] + m32[2, k]) for k in range(3))
    return equirect_coords(x, y, z, width, height)


def _basis(face: str) -> np.ndarray:
    try:
        return _BASIS[face]
    except KeyError:
        raise ValueError(f"unknown cube face {face!r}; faces are {', '.join(FACES)}") from None


def _face_axis(size: int) -> np.ndarray:
    if size < 1:
        raise ValueError(f"face size must be at least 1 px, got {size}")
    return (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
