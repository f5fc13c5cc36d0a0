"""Equirect -> cube faces, with the remap maps cached per input size, face and rotation.

The faces, their orientation (Hugin's nona, Pannellum) and the maps from face pixels to
equirect coordinates are :mod:`stitching.sphere`'s; this module renders and caches.
The published faces (:meth:`CubeProjector.publish_faces`) keep plans of f and u only
(:mod:`tiling.mirror`: half faces; the other faces are those turned or mirrored; 66 MB
for an 8K scene) and never a rotated face's maps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

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
from tiling.luma import METHOD, LumaMaps, luma_maps, render_face
from tiling.mirror import FacePlan, Maps, face_coords, plan_face, render_planned, whole_chroma

_MapKey = tuple[int, int, int, str, tuple[float, ...] | None, int | str]
_Cached = Maps | FacePlan
_M = TypeVar("_M", Maps, FacePlan)

#: Bytes of published-face plans a projector keeps between scenes by default: an 8K scene's
#: (66 MB for 2560 px faces). A 16K scene's (~275 MB) are built for each scene (~1 s of
#: CPU) and dropped after their faces: a 16K worker's tiles stage peaks at ~1.08 GB, not 1.37.
KEEP_BYTES = 128 * 2**20

#: The order :meth:`CubeProjector.publish_faces` renders in: the faces sharing maps together.
PUBLISH_ORDER = ("f", "r", "b", "l", "u", "d")


class CubeProjector:
    """Projects equirects to cube faces, keeping the last ``maxsize`` remap maps.

    Maps are keyed by (input width, input height, face size, face, rotation rounded to
    1e-9, interpolation or :data:`tiling.luma.METHOD`). An 8K input at 2560 px faces costs
    about 39 MB of maps per face for :meth:`project_face`; the published faces keep a
    29 MB plan for f (shared by r, b, l), one for u (shared by d) and d's 10 MB of chroma,
    and never a rotated face's maps (a levelled capture's rotation is its own). Safe to
    share between threads.
    """

    def __init__(self, *, maxsize: int = 6, keep_bytes: int = KEEP_BYTES) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        #: The published faces' maps are kept between calls only if f's and u's fit in this.
        self.keep_bytes = keep_bytes
        self._maps: OrderedDict[_MapKey, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._maps)

    def clear(self) -> None:
        """Drop every cached map."""
        with self._lock:
            self._maps.clear()

    @property
    def nbytes(self) -> int:
        """Memory held by the cached maps and plans."""
        with self._lock:
            cached = list(self._maps.values())
        return sum(
            e.nbytes if isinstance(e, FacePlan) else sum(m.nbytes for m in e) for e in cached
        )

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

    def publish_face(
        self,
        equirect: np.ndarray,
        face: str,
        face_size: int,
        *,
        rotation: np.ndarray | None = None,
    ) -> np.ndarray:
        """Render one cube face as the tiles publish it: Lanczos-quality luma, cheap chroma.

        Within ~0.25 dB of the JPEG ceiling (a Lanczos-4 face after the same JPEG) at about
        a bicubic remap's CPU; see :mod:`tiling.luma` for how and the measurements.

        Parameters
        ----------
        equirect:
            uint8 (H, W, 3) BGR full-sphere equirect, W = 2H.
        face, face_size, rotation:
            As for :meth:`project_face`.

        Returns
        -------
        np.ndarray
            uint8 (face_size, face_size, 3) BGR.

        Raises
        ------
        ValueError
            As :meth:`project_face`, and for an input that is not uint8 BGR.
        """
        if face not in FACES:
            raise ValueError(f"unknown cube face {face!r}; faces are {', '.join(FACES)}")
        return next(iter(self._publish(equirect, face_size, rotation, (face,))))[1]

    def publish_faces(
        self, equirect: np.ndarray, face_size: int, *, rotation: np.ndarray | None = None
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Every face as :meth:`publish_face` renders it, one at a time (:data:`PUBLISH_ORDER`).

        Only one face is rendered at a time: drop each once it is used. Without a rotation
        the maps of f (shared by r, b, l) and u (shared by d) are kept; a rotated face's maps
        are built for it and dropped with it.

        Yields
        ------
        tuple
            ``(face letter, uint8 (face_size, face_size, 3) BGR face)``.
        """
        return self._publish(equirect, face_size, rotation, PUBLISH_ORDER)

    def _publish(
        self,
        equirect: np.ndarray,
        size: int,
        rotation: np.ndarray | None,
        faces: Iterable[str],
    ) -> Iterator[tuple[str, np.ndarray]]:
        if equirect.ndim < 2 or equirect.size == 0:
            raise ValueError(f"equirect must be a non-empty image, got shape {equirect.shape}")
        if size < 1:
            raise ValueError(f"face size must be at least 1 px, got {size}")
        height, width = equirect.shape[:2]
        r = as_rotation(rotation)
        wanted = tuple(faces)
        if r is not None or not _can_shift(width):
            return (
                (face, render_face(equirect, self._whole_luma_maps(width, height, face, size, r)))
                for face in wanted
            )
        return self._planned(equirect, size, wanted)

    def _planned(
        self, equirect: np.ndarray, size: int, faces: tuple[str, ...]
    ) -> Iterator[tuple[str, np.ndarray]]:
        height, width = equirect.shape[:2]
        held: dict[str, FacePlan] = {}  # this call's plans, kept or not

        def plan_of(face: str) -> FacePlan:
            if face not in held:
                held.clear()  # f's plan is done with once u's is needed
                held[face] = self._published(
                    self._key(width, height, size, face, None, METHOD),
                    lambda: plan_face(face, size, width, height),
                )
            return held[face]

        for face in faces:
            if face == "d":
                chroma = self._published(
                    self._key(width, height, size, "d", None, "chroma"),
                    lambda: whole_chroma("d", size, width, height),
                )
                img = render_planned(equirect, plan_of("u"), flip_rows=True, chroma=chroma)
            elif face == "u":
                img = render_planned(equirect, plan_of("u"))
            else:
                columns = _YAW_QUARTERS.get(face, 0) * (width // 4)
                img = render_planned(equirect, plan_of("f"), columns=columns)
            yield face, img
            del img

    def _published(self, key: _MapKey, build: Callable[[], _M]) -> _M:
        """Cached, or built and kept only when f's and u's plans fit in :attr:`keep_bytes`."""
        with self._lock:
            found = self._maps.get(key)
        if found is not None:
            return self._cached(key, build)
        built = build()
        size = built.nbytes if isinstance(built, FacePlan) else sum(m.nbytes for m in built)
        if 2 * size <= self.keep_bytes:
            return self._cached(key, lambda: built)
        return built

    @staticmethod
    def _whole_luma_maps(
        width: int, height: int, face: str, face_size: int, r: np.ndarray | None
    ) -> LumaMaps:
        """A face's whole maps, built each time (a rotated face's maps are not kept)."""
        if face not in FACES:
            raise ValueError(f"unknown cube face {face!r}; faces are {', '.join(FACES)}")
        col, row = face_coords(face, face_size, width, height, rotation=r)
        half = max(1, (face_size + 1) // 2)
        c_col, c_row = face_coords(face, half, width, height, rotation=r)
        chroma = fixed_point_maps(c_col, c_row, height, cv2.INTER_LINEAR)
        return luma_maps(col, row, chroma, width=width, height=height)

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

        def build() -> tuple[np.ndarray, np.ndarray]:
            col, row = face_maps(face, face_size, width, height, rotation=r)
            return fixed_point_maps(col, row, height, interpolation)

        return self._cached(self._key(width, height, face_size, face, r, interpolation), build)

    @staticmethod
    def _key(
        width: int,
        height: int,
        face_size: int,
        face: str,
        r: np.ndarray | None,
        method: int | str,
    ) -> _MapKey:
        r_key = None if r is None else tuple(round(float(v), 9) for v in r.ravel())
        return (width, height, face_size, face, r_key, method)

    def _cached(self, key: _MapKey, build: Callable[[], _M]) -> _M:
        with self._lock:
            maps = self._maps.get(key)
            if maps is not None:
                self._maps.move_to_end(key)
                return maps  # type: ignore[return-value]  # the key's method fixes the kind
        # Built outside the lock: two threads may build the same maps once each, which is
        # cheaper than making every other face wait.
        built = build()
        with self._lock:
            self._maps[key] = built
            self._maps.move_to_end(key)
            while len(self._maps) > self.maxsize:
                self._maps.popitem(last=False)
        return built


#: Faces that are the front face turned by whole quarter turns of yaw (+ to the right).
_YAW_QUARTERS = {"r": 1, "b": 2, "l": 3}


def _can_shift(width: int) -> bool:
    """Whether shifted int16 columns stay exact: whole quarters, no overflow up to 1.5 W."""
    return width % 4 == 0 and width * 3 // 2 < np.iinfo(np.int16).max
