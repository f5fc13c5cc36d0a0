"""Where a scene stands on its floor plan: a fallback chain, first source that works wins.

1. ``plan``: the sidecar's position in plan pixels.
2. ``local``: the sidecar's position in the floor's local metres
   (see :mod:`workers.contract.site`).
3. ``gps``: a WGS84 fix from the sidecar, else from EXIF, mapped through the floor's fit;
   a fix that is impossible, too inaccurate, or lands off the plan is refused with a reason.
4. ``sequence``: interpolated between the placed scenes before and after it on the same
   route and floor (:func:`interpolate_routes`, run over the whole site by the tour).
5. ``none``: unplaced; the scene is published and listed as "needs placement".

A placement by hand (``manual``) beats them all; :mod:`workers.sites.tour_update` keeps it.
The result, :class:`workers.contract.tour.Placement`, is published in tour.json. Every
placement records its source, an accuracy in metres when one is known (None for a position
given exactly, by hand or in plan pixels) and notes saying why earlier sources were not used.
Positions are plan pixels (x right, y down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from ingest.metadata import GpsFix
from ingest.sidecar import LocalPosition, PlanPosition, Sidecar, Wgs84Position
from workers.contract.site import Floor, Site
from workers.contract.tour import Placement
from workers.sites.geo import LocalFrame, apply_matrix

#: A fix worse than this (metres, horizontal) is refused: indoors a room is ~5 m across.
DEFAULT_MAX_GPS_ACCURACY_M: Final = 10.0
#: A fix with a dilution of precision above this is refused when no accuracy is given.
DEFAULT_MAX_GPS_DOP: Final = 5.0


@dataclass(frozen=True, slots=True)
class _Fix:
    lat: float
    lon: float
    accuracy_m: float | None
    dop: float | None
    label: str


def place(
    sidecar: Sidecar | None,
    site: Site | None,
    *,
    exif_gps: GpsFix | None = None,
    exif_warnings: Sequence[str] = (),
    max_gps_accuracy_m: float = DEFAULT_MAX_GPS_ACCURACY_M,
    max_gps_dop: float = DEFAULT_MAX_GPS_DOP,
) -> Placement:
    """Place a scene from its own evidence: sidecar plan px, local metres, then GPS.

    Parameters
    ----------
    sidecar:
        The validated sidecar, if the capture had one (names floor, building, position).
    site:
        The site registry; None when the site has none (nothing can be placed).
    exif_gps:
        The validated EXIF fix (:func:`ingest.metadata.read_metadata`), if any.
    exif_warnings:
        The metadata warnings; those about GPS become notes when EXIF has no fix.
    max_gps_accuracy_m, max_gps_dop:
        Refuse a fix whose stated accuracy (metres) or DOP is worse.

    Returns
    -------
    Placement
        Source ``plan``, ``local`` or ``gps`` with the floor and plan position, or ``none``
        with notes saying why each source failed. Never raises for bad evidence.
    """
    notes: list[str] = []
    floor_id = _floor_id(sidecar, site, notes)
    floor = site.floor(floor_id) if site is not None and floor_id is not None else None
    if floor is None or floor_id is None:
        return Placement(source="none", floor=floor_id, notes=notes)
    position = sidecar.position if sidecar is not None else None
    if isinstance(position, PlanPosition):
        if floor.contains(position.x, position.y):
            return Placement(floor=floor_id, x=position.x, y=position.y, source="plan", notes=notes)
        notes.append(_off_plan("sidecar plan position", position.x, position.y, floor))
    elif isinstance(position, LocalPosition):
        x, y = floor.local_to_plan(position.x_m, position.y_m)
        if floor.contains(x, y):
            return Placement(floor=floor_id, x=x, y=y, source="local", notes=notes)
        notes.append(
            _off_plan(f"sidecar local position ({position.x_m}, {position.y_m}) m", x, y, floor)
        )
    for fix in _fixes(position, exif_gps, exif_warnings, notes):
        placed = _through_fit(fix, floor, floor_id, max_gps_accuracy_m, max_gps_dop, notes)
        if placed is not None:
            return placed
    return Placement(source="none", floor=floor_id, notes=notes)


def _floor_id(sidecar: Sidecar | None, site: Site | None, notes: list[str]) -> str | None:
    building = sidecar.building if sidecar is not None else None
    floor = sidecar.floor if sidecar is not None else None
    if site is None or not site.floors():
        notes.append("the site has no floor plans registered (panodock site add-floor)")
        return None
    found = site.find_floor(building, floor)
    if found is None:
        known = ", ".join(f"{b.id}/{f.id}" for b, f in site.floors())
        asked = f"building {building!r} floor {floor!r}" if floor else "no floor"
        notes.append(f"the sidecar names {asked}, which matches none of {known}")
    return found


def _off_plan(what: str, x: float, y: float, floor: Floor) -> str:
    return (
        f"{what} maps to plan ({x:.0f}, {y:.0f}) px, outside the "
        f"{floor.plan.width}x{floor.plan.height} plan; ignoring it"
    )


def _fixes(
    position: object, exif: GpsFix | None, exif_warnings: Sequence[str], notes: list[str]
) -> list[_Fix]:
    fixes = []
    if isinstance(position, Wgs84Position):
        fixes.append(_Fix(position.lat, position.lon, position.accuracy_m, None, "sidecar GPS"))
    if exif is not None:
        fixes.append(_Fix(exif.lat, exif.lon, exif.accuracy_m, exif.dop, "EXIF GPS"))
    else:
        notes.extend(f"EXIF: {w}" for w in exif_warnings if "GPS" in w)
    return fixes


def _through_fit(
    fix: _Fix,
    floor: Floor,
    floor_id: str,
    max_accuracy_m: float,
    max_dop: float,
    notes: list[str],
) -> Placement | None:
    # Sidecar and EXIF models validate ranges already; this guards values built elsewhere.
    if (
        not (math.isfinite(fix.lat) and math.isfinite(fix.lon))
        or abs(fix.lat) > 90
        or abs(fix.lon) > 180
    ):
        notes.append(f"{fix.label} {fix.lat:.1f}°, {fix.lon:.1f}° is impossible; ignoring it")
        return None
    if fix.accuracy_m is not None and fix.accuracy_m > max_accuracy_m:
        notes.append(
            f"{fix.label} accuracy {fix.accuracy_m:.0f} m is worse than the "
            f"{max_accuracy_m:.0f} m limit; ignoring it"
        )
        return None
    if fix.accuracy_m is None and fix.dop is not None and fix.dop > max_dop:
        notes.append(
            f"{fix.label} dilution of precision {fix.dop:.1f} is above {max_dop:.1f}; ignoring it"
        )
        return None
    fit = floor.fit
    if fit is None:
        notes.append(
            f"{fix.label}: floor {floor_id} has no control-point fit to map it "
            "(register control points with panodock site add-floor --gcp)"
        )
        return None
    local = LocalFrame(fit.origin_lat, fit.origin_lon).to_local([fix.lat], [fix.lon])
    x, y = (float(v) for v in apply_matrix(fit.array(), local)[0])
    if not floor.contains(x, y):
        notes.append(_off_plan(fix.label, x, y, floor) + " (wrong floor or a poor fix?)")
        return None
    accuracy = None
    if fix.accuracy_m is not None:
        accuracy = math.hypot(fix.accuracy_m, fit.loo_rms_px / fit.scale_px_per_m)
    return Placement(floor=floor_id, x=x, y=y, source="gps", accuracy_m=accuracy, notes=notes)


@dataclass(frozen=True, slots=True)
class RouteStop:
    """One scene on a walked route, as the tour knows it."""

    scene: str
    route: str
    index: int
    placement: Placement
    scale_px_per_m: float | None = None


def interpolate_routes(stops: Sequence[RouteStop]) -> dict[str, Placement]:
    """Place unplaced stops between the placed stops before and after them on their route.

    A stop is interpolated only when the nearest placed stops on either side (by index)
    are on its floor, linearly by index. Accuracy is half the distance between those two
    stops (the capture could be anywhere along the way), in metres when the floor's scale
    is known.

    Returns
    -------
    dict
        Scene -> new ``sequence`` placement, for the stops that could be placed.
    """
    placed: dict[str, Placement] = {}
    routes: dict[str, list[RouteStop]] = {}
    for stop in stops:
        routes.setdefault(stop.route, []).append(stop)
    for route in routes.values():
        route.sort(key=lambda s: s.index)
        known = [s for s in route if s.placement.placed and s.placement.source != "sequence"]
        for stop in route:
            if stop.placement.placed:
                continue
            before = [s for s in known if s.index < stop.index]
            after = [s for s in known if s.index > stop.index]
            if not before or not after:
                continue
            a, b = before[-1].placement, after[0].placement
            if a.floor != b.floor or (stop.placement.floor not in (None, a.floor)):
                continue
            assert a.x is not None and a.y is not None and b.x is not None and b.y is not None
            t = (stop.index - before[-1].index) / (after[0].index - before[-1].index)
            x, y = (float(v) for v in np.array([a.x, a.y]) + t * np.array([b.x - a.x, b.y - a.y]))
            span_px = math.hypot(b.x - a.x, b.y - a.y)
            scale = stop.scale_px_per_m
            placed[stop.scene] = Placement(
                floor=a.floor,
                x=x,
                y=y,
                source="sequence",
                accuracy_m=span_px / 2 / scale if scale else None,
                notes=[
                    *stop.placement.notes,
                    f"interpolated on route {stop.route!r} between {before[-1].scene} "
                    f"(#{before[-1].index}) and {after[0].scene} (#{after[0].index})",
                ],
            )
    return placed
