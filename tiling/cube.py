"""Equirect -> cube faces, with the remap maps cached per input size, face and rotation.

Face orientation follows Hugin's nona and Pannellum's generate.py (verified in Pannellum,
Marzipano and Photo Sphere Viewer). With a = 2(i + 0.5)/N - 1 for column i (left to right)
and b = 2(j + 0.5)/N - 1 for row j (top to bottom), face pixel (j, i) looks along::

    f: ( a, -b,  1)   b: (-a, -b, -1)   l: (-1, -b,  a)   r: ( 1, -b, -a)
    u: ( a,  1,  b)   d: ( a, -1, -b)

in world axes x right, y up, z forward: the top of ``u`` points backwards, the top of ``d``
forwards. Continuous face coordinates put pixel (j, i)'s centre at (i + 0.5, j + 0.5).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np

from stitching.equirect import (
    as_rotation,
    equirect_coords,
    fixed_point_maps,
    kernel_radius,
    remap_wrapped,
)

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

_MapKey = tuple[int, int, int, str, tuple[float, ...] | None, int]


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


class CubeProjector:
    """Projects equirects to cube faces, keeping the last ``maxsize`` remap maps.

    Maps are keyed by (input width, input height, face size, face, rotation rounded to
    1e-9, interpolation). An 8K input at 2560 px faces costs about 39 MB of maps per face.
    Safe to share between threads.
    """

    def __init__(self, *, maxsize: int = 6) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._maps: OrderedDict[_MapKey, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._maps)

    def clear(self) -> None:
        """Drop every cached map."""
        with self._lock:
            self._maps.clear()

    def project_face(
        self,
        equirect: np.ndarray,
        face: str,
        face_size: int,
        *,
        rotation: np.ndarray | None = None,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> np.ndarray:
        """Render one cube face from an equirect in a single remap.

        Parameters
        ----------
        equirect:
            uint8 (H, W, 3) BGR full-sphere equirect, W = 2H (any cv2 dtype and channel
            count work; the geometry uses W and H as given).
        face:
            One of :data:`FACES`.
        face_size:
            Side of the result in px.
        rotation:
            3x3 float matrix taking a levelled world direction to the direction in the
            SOURCE image (see :func:`stitching.rotation.pose_rotation`); None = identity.
        interpolation:
            cv2 flag: INTER_LINEAR (default), INTER_NEAREST, INTER_CUBIC or
            INTER_LANCZOS4.

        Returns
        -------
        np.ndarray
            (face_size, face_size, 3), dtype of ``equirect``.

        Raises
        ------
        ValueError
            Empty input, unknown face, face_size < 1, unsupported interpolation, or
            ``rotation`` not a rotation.
        """
        if equirect.ndim < 2 or equirect.size == 0:
            raise ValueError(f"equirect must be a non-empty image, got shape {equirect.shape}")
        height, width = equirect.shape[:2]
        maps = self._get_maps(width, height, face, face_size, rotation, interpolation)
        out = remap_wrapped(equirect, maps, interpolation)
        return out.reshape((face_size, face_size) + equirect.shape[2:])

    def project_cube(
        self,
        equirect: np.ndarray,
        face_size: int,
        *,
        rotation: np.ndarray | None = None,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> dict[str, np.ndarray]:
        """All six faces, keyed by the letters of :data:`FACES`; see :meth:`project_face`."""
        return {
            face: self.project_face(
                equirect, face, face_size, rotation=rotation, interpolation=interpolation
            )
            for face in FACES
        }

    def _get_maps(
        self,
        width: int,
        height: int,
        face: str,
        face_size: int,
        rotation: np.ndarray | None,
        interpolation: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        kernel_radius(interpolation)
        r = as_rotation(rotation)
        quarter = _YAW_QUARTERS.get(face)
        if r is None and quarter is not None and _can_shift(width):
            # Without a rotation r, b and l are f turned by 90, 180, -90 deg of yaw: the same
            # map shifted by whole quarters of the width (BORDER_WRAP folds it back). Sharing
            # the f map halves map memory and the cold-start cost.
            map1, map2 = self._get_maps(width, height, "f", face_size, None, interpolation)
            shifted = map1.copy()
            shifted[..., 0] += quarter * (width // 4)
            return shifted, map2
        r_key = None if r is None else tuple(round(float(v), 9) for v in r.ravel())
        key: _MapKey = (width, height, face_size, face, r_key, interpolation)
        with self._lock:
            maps = self._maps.get(key)
            if maps is not None:
                self._maps.move_to_end(key)
                return maps
        # Built outside the lock: two threads may build the same maps once each, which is
        # cheaper than making every other face wait.
        col, row = face_maps(face, face_size, width, height, rotation=r)
        maps = fixed_point_maps(col, row, height, interpolation)
        with self._lock:
            self._maps[key] = maps
            self._maps.move_to_end(key)
            while len(self._maps) > self.maxsize:
                self._maps.popitem(last=False)
        return maps


#: Faces that are the front face turned by whole quarter turns of yaw (+ to the right).
_YAW_QUARTERS = {"r": 1, "b": 2, "l": -1}


def _can_shift(width: int) -> bool:
    """Whether shifted int16 columns stay exact: whole quarters, no overflow up to 1.5 W."""
    return width % 4 == 0 and width * 3 // 2 < np.iinfo(np.int16).max


def _basis(face: str) -> np.ndarray:
    try:
        return _BASIS[face]
    except KeyError:
        raise ValueError(f"unknown cube face {face!r}; faces are {', '.join(FACES)}") from None


def _face_axis(size: int) -> np.ndarray:
    if size < 1:
        raise ValueError(f"face size must be at least 1 px, got {size}")
    return (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
