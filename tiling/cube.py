"""Equirect -> cube faces, with the remap maps cached per input size, face and rotation.

The faces, their orientation (Hugin's nona, Pannellum) and the maps from face pixels to
equirect coordinates are :mod:`stitching.sphere`'s; this module renders and caches.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np

from stitching.sphere import (
    FACES,
    as_rotation,
    face_maps,
    fixed_point_maps,
    kernel_radius,
    remap_wrapped,
)

_MapKey = tuple[int, int, int, str, tuple[float, ...] | None, int]


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
            One of :data:`stitching.sphere.FACES`.
        face_size:
            Side of the result in px.
        rotation:
            3x3 float matrix taking a levelled world direction to the direction in the
            SOURCE image (see :func:`stitching.sphere.pose_rotation`); None = identity.
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
        """All six faces, keyed by the letters of :data:`stitching.sphere.FACES`.

        See :meth:`project_face` for the parameters.
        """
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
