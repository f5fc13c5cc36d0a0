"""The ``panodock`` command: one module per command group (:mod:`workers.cli.registry`)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``panodock`` console command (:func:`workers.cli.main.main`).

    Imported on call, not at package import, so that ``python -m workers.cli.main`` (how
    ``panodock run`` spawns its children) does not find its module already imported.
    """
    from workers.cli.main import main as run

    return run(argv)


__all__ = ["main"]
