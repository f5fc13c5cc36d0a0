"""``panodock export SITE --out DIR``: the site's maps and data for first responders.

Writes ``DIR/SITE.geojson`` (RFC 7946), ``DIR/maps/<building>-<floor>.pdf`` and ``.png`` (a
printable map per floor), ``DIR/offline/`` and ``DIR/SITE-offline.zip`` (a bundle that works
with no network, from a USB stick), then prints each file's size and the time each product
took (:mod:`workers.export.run`). The output is the site's confidential data: hand it over as
the README's "For first responders" says. Exit codes: 0 ok, 1 refused or failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config.settings import Settings
from workers.cli.command import Command


class Export(Command):
    """Export a site for first responders."""

    name = "export"
    help = "write a site's GeoJSON, printable floor maps and offline bundle"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("site")
        parser.add_argument("--out", type=Path, required=True, help="output directory")
        parser.add_argument(
            "--share", help="share link URL (or token, with public_url) the links should use"
        )
        parser.add_argument(
            "--page", choices=("letter", "a3"), help="paper (default: export_page_size)"
        )
        parser.add_argument(
            "--max-face", type=int, help="largest cube face in the bundle, px (default: setting)"
        )
        parser.add_argument("--no-offline", action="store_true", help="skip the offline bundle")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from pydantic import ValidationError

        from config.errors import PanodockError
        from workers.cli.site import stored_name
        from workers.export.run import ExportOptions, run_export
        from workers.store.factory import make_store

        try:
            site = stored_name("site", args.site, sys.stdout)
            viewers = None
            if not args.no_offline:
                from workers.http.viewer_assets import install_viewers

                viewers = install_viewers(settings.data_dir / "web")
            options = ExportOptions(
                share=args.share,
                public_url=settings.public_url,
                page=args.page or settings.export_page_size,
                max_face_px=args.max_face or settings.export_max_face_px,
                viewers=viewers,
                offline=not args.no_offline,
            )
            report = run_export(make_store(settings), site, args.out, options)
        except (PanodockError, ValidationError, ValueError) as exc:
            print(f"panodock: {exc}", file=sys.stderr)
            return 1
        for name, size in sorted(report.files.items()):
            if not name.startswith("offline/"):
                print(f"  {name:<48} {size / 1e3:10.1f} kB")
        offline = [s for n, s in report.files.items() if n.startswith("offline/")]
        if offline:
            label = f"offline/ ({len(offline)} files)"
            print(f"  {label:<48} {sum(offline) / 1e3:10.1f} kB")
        for product, seconds in report.seconds.items():
            print(f"  {product}: {seconds:.2f} s")
        for note in report.notes:
            print(f"note: {note}")
        print(
            f"exported site {site} to {args.out} (confidential: see README, For first responders)"
        )
        return 0


COMMANDS: tuple[Command, ...] = (Export(),)
