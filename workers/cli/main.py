"""The ``panodock`` command: the parser built from the registry, settings, exit codes.

Settings are built here, once, and passed down (STYLE.md #4). Exit codes: 0 ok, 1 an
operation failed, 2 bad usage or settings, 3 the service is not reachable. The commands
themselves live one group per module (:mod:`workers.cli.registry` lists them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config.errors import ConfigError, InfrastructureError, PanodockError
from config.settings import Settings, load_settings
from workers.cli.command import HANDLER, Command
from workers.cli.registry import commands


def _parser() -> argparse.ArgumentParser:
    """The parser of ``panodock`` and every sub-command of the registry."""
    parser = argparse.ArgumentParser(
        prog="panodock",
        description="Capture-to-published-scene pipeline for 360° imagery.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (or PANODOCK_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands():
        command.register(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


def _logging(settings: Settings) -> None:
    from workers.ops.logs import setup_logging

    setup_logging(settings.log_level)  # JSON lines unless stderr is a terminal


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``panodock`` console command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 2
    _logging(settings)
    command: Command = getattr(args, HANDLER)
    try:
        return command.run(args, settings)
    except InfrastructureError as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 3
    except PanodockError as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
