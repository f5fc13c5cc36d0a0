"""Fisheye lens profiles: how each lens of a dual-fisheye camera maps directions to pixels.

A lens looks along its own +z axis, with its image x to the right and image y down. A
direction at angle theta from the axis lands at radius ``r = f * g(theta)`` from the circle
centre, ``g`` given by the projection model (equidistant ``theta``, equisolid
``2 sin(theta/2)``, stereographic ``2 tan(theta/2)``, orthographic ``sin theta``), with
``f = radius / g(fov/2)`` so that the rim of the image circle is at half the field of view.

Hugin's radial polynomial then moves that ideal radius: with ``rn = r / n``,
``r_src = (a rn^3 + b rn^2 + c rn + 1 - a - b - c) * rn * n``, where ``n`` is half the
shorter side of the profile's reference frame (Hugin's normalisation), so a/b/c figures from
a Hugin project for the same frame size can be used unchanged. Vignetting follows Hugin
too: the recorded brightness is ``1 + vb R^2 + vc R^4 + vd R^6`` of the true one, with R
the distance from the circle centre over half the reference frame's diagonal.

Each lens's orientation on the camera is a yaw/pitch/roll in degrees with the GPano signs of
:func:`stitching.sphere.pose_rotation` (lens 0 conventionally yaw 0, lens 1 yaw 180).

Built-in profiles live in ``config/lenses.toml`` (every figure there cites its source); the
caller reads that text and hands it to :func:`parse_profiles`: nothing here opens a file.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from stitching.sphere import pose_rotation

Projection = Literal["equidistant", "equisolid", "stereographic", "orthographic"]

#: Field of view of the generic model used when a camera has no profile (most consumer
#: dual-fisheye lenses cover 190-200 deg; the overlap band absorbs the uncertainty).
GENERIC_FOV_DEG = 195.0

@dataclass(frozen=True, slots=True)
class Lens:
    """One fisheye lens of a dual-fisheye frame.

    Pixel figures (``centre``, ``radius``) are for the profile's reference frame size and
    are scaled with the input; None means "not published: detect the circle in the frame".
    """

    fov_deg: float = GENERIC_FOV_DEG
    projection: Projection = "equidistant"
    centre: tuple[float, float] | None = None  # (x, y) px, pixel centres at +0.5
    radius: float | None = None  # px, the circle's rim at fov_deg / 2
    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    vb: float = 0.0
    vc: float = 0.0
    vd: float = 0.0

    def rotation(self) -> np.ndarray:
        """float64 (3, 3) matrix taking a camera (world) direction into this lens's axes."""
        return pose_rotation(self.pitch_deg, self.roll_deg, self.yaw_deg)

    def focal(self, radius: float) -> float:
        """Focal length in px for an image circle of ``radius`` px."""
        return radius / float(projection_radius(self.projection, math.radians(self.fov_deg) / 2))

    @property
    def has_vignetting(self) -> bool:
        return bool(self.vb or self.vc or self.vd)


@dataclass(frozen=True, slots=True)
class LensProfile:
    """A dual-fisheye camera: two lenses and the frame size their pixel figures refer to."""

    name: str
    lenses: tuple[Lens, Lens]
    frame_size: tuple[int, int] | None = None  # (width, height) of the reference frame
    makes: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # fields with no published figure, etc.

    @property
    def needs_circles(self) -> bool:
        """Whether the circle centres or radii must be detected in the frame."""
        return any(lens.centre is None or lens.radius is None for lens in self.lenses)

    def scaled(self, width: int, height: int) -> LensProfile:
        """The profile with pixel figures scaled to a ``width`` x ``height`` frame.

        Raises
        ------
        ValueError
            The frame's aspect differs from the reference frame's by more than 1 %.
        """
        if self.frame_size is None or self.frame_size == (width, height):
            return replace(self, frame_size=(width, height))
        ref_w, ref_h = self.frame_size
        sx, sy = width / ref_w, height / ref_h
        if abs(sx / sy - 1.0) > 0.01:
            raise ValueError(
                f"profile {self.name} is for {ref_w}x{ref_h} frames; a {width}x{height} frame "
                "has another aspect"
            )
        lenses = tuple(
            replace(
                lens,
                centre=None if lens.centre is None else (lens.centre[0] * sx, lens.centre[1] * sy),
                radius=None if lens.radius is None else lens.radius * sx,
            )
            for lens in self.lenses
        )
        return replace(self, lenses=(lenses[0], lenses[1]), frame_size=(width, height))


def projection_radius(projection: Projection, theta: np.ndarray | float) -> np.ndarray:
    """``g(theta)``: image radius per unit focal length at ``theta`` radians off axis.

    Raises
    ------
    ValueError
        Unknown projection.
    """
    t = np.asarray(theta)
    if projection == "equidistant":
        return t
    if projection == "equisolid":
        return 2.0 * np.sin(t / 2.0)
    if projection == "stereographic":
        return 2.0 * np.tan(t / 2.0)
    if projection == "orthographic":
        return np.sin(np.minimum(t, math.pi / 2))
    raise ValueError(f"unknown fisheye projection {projection!r}")


def generic_profile(fov_deg: float = GENERIC_FOV_DEG) -> LensProfile:
    """Two equidistant ``fov_deg`` lenses back to back, circles to be detected."""
    return LensProfile(
        name=f"generic {fov_deg:g}° equidistant",
        lenses=(Lens(fov_deg=fov_deg), Lens(fov_deg=fov_deg, yaw_deg=180.0)),
        notes=("no lens profile: circles detected, generic model",),
    )


def parse_profiles(text: str) -> dict[str, LensProfile]:
    """Lens profiles from the TOML text of ``config/lenses.toml``, keyed by name.

    Raises
    ------
    ValueError
        Invalid TOML, a profile without exactly two lenses, or an unknown field.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"lens profiles are not valid TOML: {exc}") from exc
    profiles = {}
    for name, entry in doc.get("profile", {}).items():
        profiles[name] = _profile(name, entry)
    return profiles


def find_profile(
    make: str | None, model: str | None, profiles: Mapping[str, LensProfile]
) -> LensProfile | None:
    """The profile whose EXIF model matches ``model`` (and make, when the profile lists one).

    Matching ignores case, spaces, dashes and underscores: "RICOH THETA S" matches
    "Ricoh Theta-S". Returns None when nothing matches or ``model`` is empty.
    """
    if not model:
        return None
    wanted_model, wanted_make = _norm(model), _norm(make or "")
    for profile in profiles.values():
        if wanted_model not in {_norm(m) for m in profile.models}:
            continue
        if profile.makes and wanted_make and wanted_make not in {_norm(m) for m in profile.makes}:
            continue
        return profile
    return None


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).lower()


_LENS_FIELDS = set(Lens.__slots__)


def _profile(name: str, entry: dict[str, Any]) -> LensProfile:
    lenses_raw = entry.get("lens", [])
    if len(lenses_raw) != 2:
        raise ValueError(f"lens profile {name}: needs exactly two [[lens]] tables")
    lenses = []
    for i, raw in enumerate(lenses_raw):
        unknown = set(raw) - _LENS_FIELDS
        if unknown:
            raise ValueError(f"lens profile {name}, lens {i}: unknown fields {sorted(unknown)}")
        values = dict(raw)
        for key in ("centre",):
            if key in values:
                values[key] = (float(values[key][0]), float(values[key][1]))
        lenses.append(Lens(**values))
    size = entry.get("frame_size")
    return LensProfile(
        name=name,
        lenses=(lenses[0], lenses[1]),
        frame_size=None if size is None else (int(size[0]), int(size[1])),
        makes=tuple(entry.get("makes", ())),
        models=tuple(entry.get("models", ())),
        notes=tuple(entry.get("notes", ())),
    )


# --- records: a profile as JSON-able data (site.json, scene.json) and back ---------------

#: Bounds a stored record must respect (records come from the store: untrusted data).
_FOV_RANGE = (120.0, 250.0)
_MAX_SIDE = 100_000  # px, any frame side
_MAX_TEXT = 200  # characters in a name, make, model or note
_MAX_ITEMS = 16  # makes, models or notes
_FLOAT_BOUNDS = dict(  # field -> largest magnitude
    a=1.0, b=1.0, c=1.0, vb=10.0, vc=10.0, vd=10.0, yaw_deg=360.0, pitch_deg=360.0, roll_deg=360.0
)
_PROJECTIONS = ("equidistant", "equisolid", "stereographic", "orthographic")
_RECORD_KEYS = {"name", "frame_size", "lenses", "makes", "models", "notes"}


def profile_record(profile: LensProfile) -> dict[str, Any]:
    """``profile`` as a JSON-able dict of plain values; :func:`profile_from_record` inverts it."""
    lenses = []
    for lens in profile.lenses:
        entry: dict[str, Any] = {
            "fov_deg": float(lens.fov_deg),
            "projection": lens.projection,
            "centre": None if lens.centre is None else [float(v) for v in lens.centre],
            "radius": None if lens.radius is None else float(lens.radius),
        }
        entry.update({key: float(getattr(lens, key)) for key in _FLOAT_BOUNDS})
        lenses.append(entry)
    return {
        "name": profile.name,
        "frame_size": None if profile.frame_size is None else [int(v) for v in profile.frame_size],
        "lenses": lenses,
        "makes": list(profile.makes),
        "models": list(profile.models),
        "notes": list(profile.notes),
    }


def profile_from_record(record: Mapping[str, Any]) -> LensProfile:
    """The :class:`LensProfile` a :func:`profile_record` dict describes, validated.

    Every value is checked for type and range: field of view 120-250 deg, a known projection,
    radius > 0 and centre inside the reference frame (both need ``frame_size``), finite and
    bounded polynomial, pose and vignetting figures, short strings, no unknown keys.

    Raises
    ------
    ValueError
        The record is malformed; the message names the field.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"lens record: expected an object, got {type(record).__name__}")
    unknown = set(record) - _RECORD_KEYS
    if unknown:
        raise ValueError(f"lens record: unknown keys {sorted(map(str, unknown))[:5]}")
    name = _text(record.get("name"), "name")
    size_raw = record.get("frame_size")
    frame_size = None
    if size_raw is not None:
        if not isinstance(size_raw, list | tuple) or len(size_raw) != 2:
            raise ValueError(f"lens record {name}: frame_size must be [width, height]")
        w, h = (_int(v, f"frame_size[{i}]", name) for i, v in enumerate(size_raw))
        frame_size = (w, h)
    lenses_raw = record.get("lenses")
    if not isinstance(lenses_raw, list | tuple) or len(lenses_raw) != 2:
        raise ValueError(f"lens record {name}: lenses must be a list of exactly two lenses")
    lenses = tuple(_lens_from(raw, i, name, frame_size) for i, raw in enumerate(lenses_raw))
    return LensProfile(
        name=name,
        lenses=(lenses[0], lenses[1]),
        frame_size=frame_size,
        makes=_texts(record.get("makes", []), "makes", name),
        models=_texts(record.get("models", []), "models", name),
        notes=_texts(record.get("notes", []), "notes", name),
    )


def _lens_from(raw: Any, i: int, name: str, frame_size: tuple[int, int] | None) -> Lens:
    where = f"lens record {name}, lens {i}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected an object")
    unknown = set(raw) - _LENS_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(map(str, unknown))[:5]}")
    fov = _float(raw.get("fov_deg"), "fov_deg", where)
    if not _FOV_RANGE[0] <= fov <= _FOV_RANGE[1]:
        raise ValueError(f"{where}: fov_deg {fov:g} is outside {_FOV_RANGE[0]:g}-{_FOV_RANGE[1]:g}")
    projection = raw.get("projection")
    if projection not in _PROJECTIONS:
        raise ValueError(f"{where}: unknown projection {str(projection)[:40]!r}")
    values: dict[str, Any] = {"fov_deg": fov, "projection": projection}
    for key, bound in _FLOAT_BOUNDS.items():
        value = _float(raw.get(key, 0.0), key, where)
        if abs(value) > bound:
            raise ValueError(f"{where}: {key} {value:g} is outside ±{bound:g}")
        values[key] = value
    centre, radius = raw.get("centre"), raw.get("radius")
    if (centre is not None or radius is not None) and frame_size is None:
        raise ValueError(f"{where}: a centre or radius needs the record's frame_size")
    if radius is not None:
        values["radius"] = _float(radius, "radius", where)
        if not 0.0 < values["radius"] <= max(frame_size or (0, 0)):
            raise ValueError(f"{where}: radius {values['radius']:g} px is not in (0, frame side]")
    if centre is not None:
        if not isinstance(centre, list | tuple) or len(centre) != 2:
            raise ValueError(f"{where}: centre must be [x, y]")
        x, y = (_float(v, "centre", where) for v in centre)
        assert frame_size is not None
        if not (0.0 <= x <= frame_size[0] and 0.0 <= y <= frame_size[1]):
            w, h = frame_size
            raise ValueError(f"{where}: centre ({x:g}, {y:g}) is outside the {w}x{h} frame")
        values["centre"] = (x, y)
    return Lens(**values)


def _float(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a finite number, got {str(value)[:40]!r}")
    return float(value)


def _int(value: Any, key: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_SIDE:
        raise ValueError(f"lens record {name}: {key} must be an integer in 1-{_MAX_SIDE}")
    return value


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise ValueError(f"lens record: {key} must be a string of 1-{_MAX_TEXT} characters")
    return value


def _texts(value: Any, key: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or len(value) > _MAX_ITEMS:
        raise ValueError(f"lens record {name}: {key}: a list of {_MAX_ITEMS} strings at most")
    return tuple(_text(v, f"{key} entry") for v in value)
