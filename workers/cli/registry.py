"""Every ``panodock`` sub-command, in the order ``panodock --help`` lists them.

One module per command group (:mod:`workers.cli.service`, :mod:`~workers.cli.captures`,
:mod:`~workers.cli.queue`, :mod:`~workers.cli.store`, :mod:`~workers.cli.bench`); the
``site`` and ``place`` commands of :mod:`workers.cli.site` keep their own parser builder
and runner and join the registry through :class:`SiteCommands`. A new command is a
:class:`~workers.cli.command.Command` in one of those modules (or a new one) and a line here.
"""

from __future__ import annotations

import argparse
from typing import Any

from config.settings import Settings
from workers.cli import access, bench, captures, poi, queue, review, service, store
from workers.cli.command import HANDLER, Command
from workers.cli.export import COMMANDS as EXPORT_COMMANDS


class SiteCommands(Command):
    """``site ...`` and ``place``: :mod:`workers.cli.site` builds and runs them."""

    name = "site"  # and "place"
    help = "register floor plans, show a site; place a scene by hand"
    names = ("site", "place")

    def register(self, subparsers: Any) -> None:
        from workers.cli.site import add_site_commands

        add_site_commands(subparsers)
        for name in self.names:
            subparsers.choices[name].set_defaults(**{HANDLER: self})

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.cli.site import run_site_command
        from workers.store.factory import make_store

        return run_site_command(args, settings, make_store(settings))  # registry + tour


def commands() -> tuple[Command, ...]:
    """The sub-commands, in help order."""
    return (
        *service.COMMANDS,
        *captures.COMMANDS,
        *review.COMMANDS,
        *queue.COMMANDS,
        *store.COMMANDS,
        SiteCommands(),
        *poi.COMMANDS,
        *EXPORT_COMMANDS,
        *access.COMMANDS,
        *bench.COMMANDS,
    )
