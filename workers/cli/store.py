"""``panodock gc|original``: the object store by hand."""

from __future__ import annotations

import argparse

from config.settings import Settings
from workers.cli.command import Command, connect


class Gc(Command):
    """List (or delete) scene versions that no pointer references any more."""

    name = "gc"
    help = "remove scene versions no pointer references (dry run)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--apply", action="store_true", help="delete them (default: only list)")
        parser.add_argument("--grace-hours", type=float, default=24.0, help="keep newer ones (24)")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.store.factory import make_store
        from workers.store.gc import collect

        apply: bool = args.apply
        found = collect(make_store(settings), grace_seconds=args.grace_hours * 3600, apply=apply)
        verb = "deleted" if apply else "would delete"
        for v in found:
            print(
                f"{verb} {v.prefix}  {v.objects} objects, "
                f"{v.bytes / 1e6:.1f} MB, unreferenced for {v.age_seconds / 3600:.1f} h"
            )
        total = sum(v.bytes for v in found) / 1e6
        print(
            f"{len(found)} unreferenced version(s) or checkpoint(s), {total:.1f} MB"
            + ("" if apply else "; run with --apply to delete them")
        )
        return 0


class Original(Command):
    """Presigned download URLs of a capture's original files."""

    name = "original"
    help = "download URLs of a capture's originals"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("capture", help="a capture id (or its first characters)")
        parser.add_argument("--expires", type=int, default=3600, help="seconds the URL works")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.store.factory import make_store

        _, ledger = connect(settings)
        store = make_store(settings)
        for f in ledger.find(args.capture).files:
            print(f"{f.name}\t{store.presigned_get(f.key, expires_seconds=args.expires)}")
        return 0


COMMANDS: tuple[Command, ...] = (Gc(), Original())
