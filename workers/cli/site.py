"""``panodock site add-floor|show|visibility`` and ``panodock place``: the registry by hand.

``add-floor`` validates before it saves anything: the plan must be a readable image, every
control point must lie on it, and the fit's leave-one-out error must be within the limit
(``--max-loo-m``, metres on the floor, converted with the declared scale); otherwise it
prints why, naming the worst point, and exits 1. Exit codes follow ``panodock``: 0 ok,
1 refused or failed, 2 bad usage.

Site and scene names typed here follow the one naming rule (:mod:`config.names`): they are
lower-cased, so ``panodock site add-floor North-Campus ...`` registers
``sites/north-campus/``, the site a capture whose sidecar says ``"site": "North-Campus"``
is published into; a line says so when the typed name is not the stored one.

``visibility SITE public|private`` records who may read the site without credentials and
applies the S3 bucket policy at once (:func:`workers.sites.registry.set_visibility`): a
site is private until it opts in, and opting out closes it again, without a restart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from pydantic import ValidationError

from config.errors import PanodockError
from config.names import canonical
from ingest.image import probe_image
from workers.contract.keys import floor_ref, plan_key, site_key, tour_key
from workers.contract.site import (
    VISIBILITIES,
    Building,
    ControlPoint,
    FitRecord,
    Floor,
    PlanImage,
    Site,
)
from workers.contract.tour import Tour
from workers.sites.geo import LocalFrame, PlanFit, accept_fit, fit_plan, wrap_deg
from workers.sites.registry import AccessPolicy, load_site, set_visibility, update_site
from workers.sites.tour_update import place_scene_by_hand, rebuild_tour
from workers.store.base import ObjectStore, content_type_for

DEFAULT_MAX_LOO_M = 1.0
#: Declared and measured north differing by more than this earns a warning.
NORTH_TOLERANCE_DEG = 3.0
SCALE_TOLERANCE = 0.05
_SUFFIXES = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif"}


def add_site_commands(subparsers: Any) -> None:
    """Add ``site`` (add-floor, show, visibility) and ``place`` to ``panodock``'s subparsers."""
    site = subparsers.add_parser(
        "site", help="register floor plans, show a site, set its visibility"
    )
    sub = site.add_subparsers(dest="site_command", required=True, metavar="SUBCOMMAND")

    add = sub.add_parser("add-floor", help="register (or replace) a floor plan of a site")
    add.add_argument("site", help="site slug, as captures name it")
    add.add_argument("floor", help="floor id, as sidecars name it (e.g. 2)")
    add.add_argument("--building", default="main", help="building id (default: main)")
    add.add_argument("--name", help="floor name shown in viewers")
    add.add_argument("--plan", type=Path, required=True, help="plan image (JPEG, PNG, TIFF)")
    add.add_argument("--scale", type=float, required=True, help="plan pixels per metre")
    add.add_argument(
        "--north", type=float, required=True, help="degrees clockwise from plan-up to true north"
    )
    add.add_argument(
        "--gcp",
        action="append",
        default=[],
        metavar="[NAME=]X,Y,LAT,LON",
        help="ground control point: plan px and WGS84 degrees (repeat; 3+ to fit)",
    )
    add.add_argument(
        "--model", choices=("similarity", "affine", "homography"), default="similarity"
    )
    add.add_argument(
        "--max-loo-m",
        type=float,
        default=DEFAULT_MAX_LOO_M,
        help="refuse a fit whose leave-one-out RMS exceeds this many metres "
        f"(default {DEFAULT_MAX_LOO_M})",
    )
    add.add_argument(
        "--local-origin",
        metavar="X,Y",
        help="plan px of the local metres frame's origin (default: bottom-left corner)",
    )

    add.add_argument(
        "--grid-m", type=float, default=10.0, help="map grid cell size, metres (default 10)"
    )
    from workers.cli.site_verify import add_verify_parser

    add_verify_parser(sub)

    show = sub.add_parser("show", help="floors, fits and tour state of a site")
    show.add_argument("site")

    vis = sub.add_parser(
        "visibility", help="make a site's scenes, tour and plans public or private (default)"
    )
    vis.add_argument("site")
    vis.add_argument("visibility", choices=VISIBILITIES)

    place = subparsers.add_parser("place", help="place a published scene on its plan by hand")
    place.add_argument("site")
    place.add_argument("scene")
    place.add_argument("--plan", nargs=2, type=float, required=True, metavar=("X", "Y"))
    place.add_argument(
        "--heading",
        type=float,
        help="where the panorama centre faces, degrees clockwise from plan-up",
    )
    place.add_argument("--floor", help="<building>/<floor> (default: the scene's floor)")


def run_site_command(
    args: argparse.Namespace, settings: object, store: ObjectStore, *, out: TextIO | None = None
) -> int:
    """Run ``site ...`` or ``place``; returns the exit code. ``settings`` is unused so far."""
    stream = out or sys.stdout
    try:
        site = stored_name("site", args.site, stream)
        if args.command == "place":
            return _place(args, site, store, stream)
        if args.site_command == "add-floor":
            return _add_floor(args, site, store, stream)
        if args.site_command == "visibility":
            return _visibility(site, args.visibility, store, stream)
        if args.site_command == "verify":
            from workers.cli.site_verify import run_verify

            return run_verify(args, site, store, stream)
        return _show(site, args.site, store, stream)
    except (PanodockError, ValidationError, ValueError) as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 1


def stored_name(kind: str, typed: str, out: TextIO) -> str:
    """The slug a site or scene name typed on the command line is stored as.

    Prints one line to ``out`` when it differs from what was typed (``North-Campus`` is
    stored as ``north-campus``).

    Raises
    ------
    ValueError
        ``typed`` is not a name (only letters, digits, ``-`` and ``_``); the message names it.
    """
    try:
        stored = canonical(typed)
    except ValueError as exc:
        raise ValueError(f"{kind} {typed!r}: {exc}") from None
    if stored != typed:
        print(f"{kind} {typed} is stored as {stored} (names are lower-case)", file=out)
    return stored


def _add_floor(args: argparse.Namespace, site: str, store: ObjectStore, out: TextIO) -> int:
    Building(id=args.building)  # refuse a bad building id before anything is stored
    data = args.plan.read_bytes()
    info = probe_image(data, name=args.plan.name)
    points = [_control_point(text, i) for i, text in enumerate(args.gcp)]
    off = [p.name for p in points if not (0 <= p.x <= info.width and 0 <= p.y <= info.height)]
    if off:
        raise ValueError(
            f"control point(s) {', '.join(off)} lie outside the {info.width}x{info.height} plan"
        )
    if len({p.name for p in points}) != len(points):
        raise ValueError("control point names must be unique")
    fit = None
    if points:
        fit = _fit(points, args, out)
        if fit is None:
            return 1
    else:
        print("no control points: scenes can be placed by plan position only, not by GPS", file=out)
    origin = None
    if args.local_origin:
        ox, oy = (float(v) for v in args.local_origin.split(","))
        origin = (ox, oy)
    key = plan_key(site, args.building, args.floor, _SUFFIXES[info.format])
    floor = Floor(
        id=args.floor,
        name=args.name,
        plan=PlanImage(key=key, width=info.width, height=info.height),
        scale_px_per_m=args.scale,
        north_offset_deg=args.north % 360.0,
        local_origin_px=origin,
        control_points=points,
        fit=fit,
        grid_m=args.grid_m,
    )
    store.put(key, data, content_type=content_type_for(key))
    update_site(store, site, lambda registry: registry.with_floor(args.building, floor))
    if store.exists(tour_key(site)):
        rebuild_tour(store, site)
    print(
        f"floor {floor_ref(args.building, args.floor)} of site {site} saved; plan at {key}",
        file=out,
    )
    return 0


def _control_point(text: str, index: int) -> ControlPoint:
    name, _, values = text.rpartition("=")
    parts = values.split(",")
    if len(parts) != 4:
        raise ValueError(f"--gcp {text!r}: expected [NAME=]X,Y,LAT,LON")
    try:
        x, y, lat, lon = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--gcp {text!r}: X, Y, LAT and LON must be numbers") from None
    return ControlPoint(name=name or f"#{index + 1}", x=x, y=y, lat=lat, lon=lon)


def _fit(points: list[ControlPoint], args: argparse.Namespace, out: TextIO) -> FitRecord | None:
    frame = LocalFrame.around([p.lat for p in points], [p.lon for p in points])
    local = frame.to_local([p.lat for p in points], [p.lon for p in points])
    plan = np.array([[p.x, p.y] for p in points])
    fit = fit_plan(plan, local, args.model, [p.name for p in points])
    _print_fit(fit, out)
    limit_px = args.max_loo_m * args.scale
    try:
        accept_fit(fit, limit_px)
    except PanodockError as exc:
        print(
            f"refused: {exc} (limit {args.max_loo_m} m = {limit_px:.1f} px); nothing saved",
            file=out,
        )
        return None
    north_gap = abs(wrap_deg(fit.north_offset_deg - args.north))
    if north_gap > NORTH_TOLERANCE_DEG:
        print(
            f"warning: the control points put north at {fit.north_offset_deg:.1f}°, "
            f"--north says {args.north:.1f}°; link directions use --north",
            file=out,
        )
    if abs(fit.scale_px_per_m / args.scale - 1.0) > SCALE_TOLERANCE:
        print(
            f"warning: the control points measure {fit.scale_px_per_m:.2f} px/m, "
            f"--scale says {args.scale:.2f}",
            file=out,
        )
    return fit_record(fit, frame)


def fit_record(fit: PlanFit, frame: LocalFrame) -> FitRecord:
    """What the registry keeps of an accepted fit (the plan <-> local-metres frame it used)."""
    return FitRecord(
        model=fit.model,
        matrix=fit.matrix.tolist(),
        origin_lat=frame.origin_lat,
        origin_lon=frame.origin_lon,
        rms_px=fit.rms_px,
        loo_rms_px=fit.loo_rms_px,
        residuals_px=dict(zip(fit.names, map(float, fit.errors_px), strict=True)),
        loo_residuals_px=dict(zip(fit.names, map(float, fit.loo_errors_px), strict=True)),
        scale_px_per_m=fit.scale_px_per_m,
        north_offset_deg=fit.north_offset_deg,
    )


def _print_fit(fit: PlanFit, out: TextIO) -> None:
    print(f"{fit.model} fit on {len(fit.names)} control points (plan px):", file=out)
    print(f"  {'point':<12} {'dx':>7} {'dy':>7} {'error':>7} {'leave-one-out':>14}", file=out)
    for i, name in enumerate(fit.names):
        dx, dy = fit.residuals[i]
        error, loo = fit.errors_px[i], fit.loo_errors_px[i]
        print(
            f"  {name:<12} {dx:7.2f} {dy:7.2f} {error:7.2f} {loo:14.2f}",
            file=out,
        )
    print(f"  RMS {fit.rms_px:.2f} px, leave-one-out RMS {fit.loo_rms_px:.2f} px", file=out)
    print(
        f"  measured scale {fit.scale_px_per_m:.3f} px/m, north {fit.north_offset_deg:.1f}°; "
        f"worst point {fit.worst}",
        file=out,
    )


def _visibility(site: str, visibility: str, store: ObjectStore, out: TextIO) -> int:
    if load_site(store, site) is None and next(store.list(f"scenes/{site}/"), None) is None:
        print(f"site {site} has neither a registry nor published scenes; check the name", file=out)
        return 1
    written = set_visibility(store, site, "public" if visibility == "public" else "private")
    if written.visibility == "public":
        what = "its scenes, tour and plans are readable by anyone (originals stay private)"
    else:
        what = "only credentials or a share link read it"
    print(f"site {site} is {written.visibility}: {what}", file=out)
    if not isinstance(store, AccessPolicy):
        print("(the local store is never served without credentials)", file=out)
    return 0


def _show(site_id: str, typed: str, store: ObjectStore, out: TextIO) -> int:
    site = load_site(store, site_id)
    published = store.exists(tour_key(site_id))
    if site is None:
        if published:  # scenes, no floor plan yet: show them and say what is missing
            print(f"site {site_id}: no floor plan registered, so its scenes are not on a "
                  f"map (panodock site add-floor {site_id} ...)", file=out)  # fmt: skip
        else:
            print(f"site {site_id} has no registry and no published scene "
                  f"(panodock site add-floor {site_id} ...)", file=out)  # fmt: skip
        if typed != site_id and store.exists(site_key(typed)):
            # Registered before names were lower-cased: no capture ever found it.
            print(
                f"an older registry is stored under sites/{typed}/, where no capture looks; "
                f"register its floors again (panodock site add-floor {site_id} ...)",
                file=out,
            )
        if not published:
            return 1
    else:
        _print_site(site, out)
        if not site.floors():
            print(f"  no floor plan registered (panodock site add-floor {site_id} ...)", file=out)
        if site.review is not None:
            print(f"  review: {site.review} (panodock review policy)", file=out)
        for camera in site.cameras:
            who = " ".join(p for p in (camera.make, camera.model, camera.serial) if p)
            lens = camera.profile or "fitted"
            if camera.frame is not None:  # a fit applies to frames of its size and circles
                lens += f" for {camera.frame.width}x{camera.frame.height} frames"
            print(f"  camera {who or 'default (no EXIF)'}: lens {lens}, "
                  f"approved by {camera.approved_by}", file=out)  # fmt: skip
    if published:
        tour = Tour.model_validate_json(store.get(tour_key(site_id)))
        placed = sum(1 for s in tour.scenes if s.position.placed)
        print(
            f"tour: {len(tour.scenes)} scenes, {placed} placed, {len(tour.links)} links", file=out
        )
        for scene in tour.scenes:
            p = scene.position
            where = f"({p.x:.0f}, {p.y:.0f}) on {p.floor}" if p.placed else "NEEDS PLACEMENT"
            acc = f" ±{p.accuracy_m:.1f} m" if p.accuracy_m is not None else ""
            print(f"  {scene.scene:<24} {where} [{p.source}{acc}]", file=out)
            if not p.placed:
                for note in p.notes:
                    print(f"      {note}", file=out)
    return 0


def _print_site(site: Site, out: TextIO) -> None:
    print(f"site {site.id}: {len(site.floors())} floor(s), {site.visibility}", file=out)
    for building, floor in site.floors():
        print(
            f"  {floor_ref(building.id, floor.id):<16} plan {floor.plan.key} "
            f"{floor.plan.width}x{floor.plan.height}, {floor.scale_px_per_m:g} px/m, "
            f"north {floor.north_offset_deg:g}°",
            file=out,
        )
        if floor.fit is not None:
            print(
                f"    {floor.fit.model} fit on {len(floor.control_points)} points: RMS "
                f"{floor.fit.rms_px:.2f} px, leave-one-out {floor.fit.loo_rms_px:.2f} px",
                file=out,
            )
        from workers.sites.verify import verification_line

        last = site.last_verification(floor_ref(building.id, floor.id))
        print(f"    {verification_line(last)}", file=out)


def _place(args: argparse.Namespace, site: str, store: ObjectStore, out: TextIO) -> int:
    x, y = args.plan
    name = stored_name("scene", args.scene, out)
    tour = place_scene_by_hand(store, site, name, x, y, args.heading, floor=args.floor)
    scene = next(s for s in tour.scenes if s.scene == name)
    links = [link.target for link in tour.links if link.source == name]
    heading = f", heading {scene.heading_deg:.1f}°" if scene.heading_deg is not None else ""
    print(
        f"{name} placed at ({x:g}, {y:g}) on {scene.position.floor}{heading}; "
        f"links to {', '.join(links) or 'nothing yet'}",
        file=out,
    )
    return 0
