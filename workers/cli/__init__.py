"""The ``panodock`` command: one module per command group."""

from workers.cli.main import main

__all__ = ["main"]
