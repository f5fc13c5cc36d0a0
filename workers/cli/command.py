"""What a ``panodock`` sub-command is, and what the commands that talk to Redis share.

A command is an object with a ``name``, a one-line ``help``, :meth:`Command.add_arguments`
and :meth:`Command.run` (the pattern of mapillary_tools' ``commands/``); the registry
(:mod:`workers.cli.registry`) lists them in the order ``panodock --help`` shows them and
:mod:`workers.cli.main` builds the parser from it. Modules of commands import only the
standard library and ``config`` at the top; whatever a command needs is imported in its
``run``, so ``panodock --help`` stays fast and a broken optional piece does not stop the
other commands.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, ClassVar

from config.settings import Settings

if TYPE_CHECKING:
    from workers.state.ledger import Ledger

#: The argparse attribute that carries the chosen command object to :func:`main`.
HANDLER = "_panodock_command"


class Command:
    """One sub-command of ``panodock``; subclasses set ``name`` and ``help`` and ``run``."""

    name: ClassVar[str]
    help: ClassVar[str]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's own arguments and flags (none by default)."""

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        """Do the work; returns the exit code (0 ok, 1 an operation failed, 2 bad usage).

        Raises
        ------
        config.errors.InfrastructureError
            The service (Redis, the store) is not reachable; ``panodock`` exits 3.
        config.errors.PanodockError
            An operation failed; ``panodock`` exits 1.
        """
        raise NotImplementedError(f"panodock {self.name}: no run()")

    def register(self, subparsers: Any) -> None:
        """Add this command's parser to ``panodock``'s sub-parsers."""
        parser = subparsers.add_parser(self.name, help=self.help)
        self.add_arguments(parser)
        parser.set_defaults(**{HANDLER: self})


def redis_url(settings: Settings) -> str:
    """The Redis of the service the settings name.

    Raises
    ------
    config.errors.InfrastructureError
        No Redis is configured and ``panodock run`` is not running on this data dir.
    """
    from workers.service.processes import resolve_redis_url

    return resolve_redis_url(settings)


def connect(settings: Settings) -> tuple[str, Ledger]:
    """The service's Redis URL and its ledger (the client connects on first use)."""
    from workers.queue.broker import redis_client
    from workers.state.ledger import Ledger

    url = redis_url(settings)
    return url, Ledger(client=redis_client(url))
