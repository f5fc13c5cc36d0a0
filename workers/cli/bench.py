"""``panodock bench``: one capture through the real pipeline, timed on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from config.settings import Settings
from workers.cli.command import Command


class Bench(Command):
    """Time an 8192x4096 JPEG (or a given panorama) to a published tile set."""

    name = "bench"
    help = "time 8192x4096 JPEG -> published tile set"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--width", type=int, default=8192, help="input width (default 8192)")
        parser.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
        parser.add_argument(
            "--input", type=Path, help="panorama to resize as input (default synthetic)"
        )
        parser.add_argument(
            "--blur", choices=["off", "required"], default="off",
            help="face blurring during the run (default off: the tiling job alone)",
        )  # fmt: skip

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.ops.bench import run_bench

        bench_settings = settings.model_copy(update={"blur": args.blur})
        table = run_bench(
            width=args.width, runs=args.runs, settings=bench_settings, source=args.input
        )
        print(table)
        return 0


COMMANDS: tuple[Command, ...] = (Bench(),)
