"""``panodock site verify SITE --floor F --by NAME [--date D] [--note TEXT]``: a walkthrough.

Records that a person walked the floor and checked its map
(:func:`workers.sites.verify.record_verification`); the tour, the exports and
``panodock site show`` then carry the floor's last walkthrough.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any, TextIO

from workers.store.base import ObjectStore


def add_verify_parser(sub: Any) -> None:
    """Add ``verify`` to ``panodock site``'s sub-parsers."""
    verify = sub.add_parser("verify", help="record a walkthrough that checked a floor's map")
    verify.add_argument("site")
    verify.add_argument("--floor", required=True, help="floor id or <building>/<floor>")
    verify.add_argument("--by", required=True, help="who walked the floor")
    verify.add_argument(
        "--date", type=date.fromisoformat, help="day of the walkthrough, YYYY-MM-DD (today)"
    )
    verify.add_argument("--note", help="e.g. 'door 4 renumbered'")


def run_verify(args: argparse.Namespace, site: str, store: ObjectStore, out: TextIO) -> int:
    """Record the walkthrough; returns the exit code."""
    from workers.sites.poi_edit import resolve_floor
    from workers.sites.registry import load_site
    from workers.sites.verify import record_verification, verification_line

    floor = resolve_floor(load_site(store, site), site, args.floor)
    record = record_verification(store, site, floor, args.by, day=args.date, note=args.note)
    print(f"site {site} floor {floor}: {verification_line(record)}", file=out)
    return 0
