"""``panodock poi add|list|move|remove|attach``: points of interest on the floor plans by hand.

``add SITE --floor F --plan X Y --kind aed --label "AED 2"`` places a point (kinds: the
catalogue in :mod:`config.poi`; another kind is kept and shown as ``other``, with a warning);
``move SITE ID --plan X Y`` places one by hand (also one a capture's sidecar named: the hand
placement then wins); ``remove`` drops a hand placement; ``list`` shows every point of the
site with its floor, grid cell, position source and accuracy, or why it is unplaced;
``attach SITE ID FILE --title T`` attaches a PDF or image to a point (``--scene``: a scene).
Exit codes: 0 ok, 1 refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from config.settings import Settings
from workers.cli.command import HANDLER, Command


class PoiCommands(Command):
    """``poi ...``."""

    name = "poi"
    help = "points of interest on the plans: add, list, move, remove"

    def register(self, subparsers: Any) -> None:
        poi = subparsers.add_parser(self.name, help=self.help)
        sub = poi.add_subparsers(dest="poi_command", required=True, metavar="SUBCOMMAND")
        add = sub.add_parser("add", help="place a point of interest on a floor plan")
        add.add_argument("site")
        add.add_argument("--floor", required=True, help="floor id or <building>/<floor>")
        add.add_argument("--plan", nargs=2, type=float, required=True, metavar=("X", "Y"))
        add.add_argument("--kind", required=True, help="catalogue kind, e.g. aed, exterior_door")
        add.add_argument("--label", help='e.g. "AED 2"')
        add.add_argument("--number", help="door, stairwell or room number")
        add.add_argument("--id", help="slug (default: from the label or kind)")
        add.add_argument("--notes")
        listing = sub.add_parser("list", help="every point of interest of a site")
        listing.add_argument("site")
        move = sub.add_parser("move", help="place a point of interest by hand")
        move.add_argument("site")
        move.add_argument("id")
        move.add_argument("--plan", nargs=2, type=float, required=True, metavar=("X", "Y"))
        move.add_argument("--floor", help="floor id or <building>/<floor> (default: its floor)")
        remove = sub.add_parser("remove", help="drop a point placed by hand")
        remove.add_argument("site")
        remove.add_argument("id")
        attach = sub.add_parser("attach", help="attach a PDF or image to a point or scene")
        attach.add_argument("site")
        attach.add_argument("id", help="point of interest id (or scene, with --scene)")
        attach.add_argument("file", type=Path)
        attach.add_argument("--title", required=True, help='e.g. "Evacuation plan, wing B"')
        attach.add_argument("--scene", action="store_true", help="ID is a scene")
        poi.set_defaults(**{HANDLER: self})

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.store.factory import make_store

        return run_poi_command(args, make_store(settings))


def run_poi_command(args: argparse.Namespace, store: Any, *, out: TextIO | None = None) -> int:
    """Run ``poi ...`` against ``store``; returns the exit code."""
    from pydantic import ValidationError

    from config.errors import PanodockError
    from config.poi import resolve_kind
    from workers.cli.site import stored_name
    from workers.contract.site import SitePoi
    from workers.sites.poi_edit import (
        add_poi,
        attach,
        move_poi,
        new_id,
        remove_poi,
        resolve_floor,
    )
    from workers.sites.registry import load_site
    from workers.sites.tour_update import rebuild_tour

    stream = out or sys.stdout
    try:
        site = stored_name("site", args.site, stream)
        command = args.poi_command
        if command == "add":
            registry = load_site(store, site)
            kind, warning = resolve_kind(args.kind)
            if warning:
                print(f"warning: {warning}", file=stream)
            poi_id = stored_name("point", args.id, stream) if args.id else None
            record = SitePoi(
                id=poi_id or new_id(registry, args.kind, args.label),
                floor=resolve_floor(registry, site, args.floor),
                x=args.plan[0],
                y=args.plan[1],
                kind=args.kind if kind.id == "other" else kind.id,
                label=args.label,
                number=args.number,
                notes=args.notes,
            )
            tour = add_poi(store, site, record)
            _print_one(tour, record.id, "added", stream)
        elif command == "move":
            tour = move_poi(store, site, args.id, args.plan[0], args.plan[1], args.floor)
            _print_one(tour, args.id, "moved", stream)
        elif command == "attach":
            data = args.file.read_bytes()
            tour = attach(store, site, args.id, args.file.name, data, args.title, scene=args.scene)
            print(f"{args.file.name} ({len(data) / 1e3:.0f} kB) attached to {args.id}", file=stream)
        elif command == "remove":
            tour = remove_poi(store, site, args.id)
            still = next((p for p in tour.pois if p.id == args.id), None)
            print(f"{args.id}: hand placement removed", file=stream)
            if still is not None:
                print(f"  the captures still name it: now {_where(still)}", file=stream)
        else:
            tour = rebuild_tour(store, site)
            print(f"site {site}: {len(tour.pois)} point(s) of interest", file=stream)
            for poi in tour.pois:
                print(f"  {poi.id:<24} {poi.catalogue_kind:<18} {_where(poi)}", file=stream)
                if poi.label:
                    print(f"      {poi.label}", file=stream)
                for note in poi.warnings + (poi.position.notes if not poi.position.placed else []):
                    print(f"      {note}", file=stream)
        return 0
    except (PanodockError, ValidationError, ValueError) as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 1


def _where(poi: Any) -> str:
    p = poi.position
    if not p.placed:
        return f"UNPLACED on {p.floor or 'no floor'}"
    acc = f" ±{p.accuracy_m:.1f} m" if p.accuracy_m is not None else ""
    return f"({p.x:.0f}, {p.y:.0f}) on {p.floor}, cell {p.grid or '-'} [{p.source}{acc}]"


def _print_one(tour: Any, poi_id: str, verb: str, out: TextIO) -> None:
    poi = next(p for p in tour.pois if p.id == poi_id)
    print(f"{poi_id} {verb}: {_where(poi)}", file=out)


COMMANDS: tuple[Command, ...] = (PoiCommands(),)
