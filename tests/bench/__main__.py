"""``python -m tests.bench <name> [options]``: run ``tests.bench.<name>.main()``.

With no name (or ``-h``), lists the benchmarks with the first line of each one's docstring.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def names() -> list[str]:
    """The benchmark modules of this package, sorted."""
    here = [str(Path(__file__).parent)]
    return sorted(m.name for m in pkgutil.iter_modules(here) if not m.name.startswith("_"))


def _summary(name: str) -> str:
    """The first line of a benchmark's docstring, read without importing it."""
    import ast

    source = (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.splitlines()[0] if doc else ""


def main(argv: list[str]) -> int:
    """Run the benchmark ``argv[0]`` with the rest of ``argv`` as its arguments."""
    available = names()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m tests.bench NAME [options]   (NAME --help for its options)\n")
        for name in available:
            print(f"  {name:<10} {_summary(name)}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in available:
        print(f"tests.bench: no benchmark {name!r}; there are {', '.join(available)}",
              file=sys.stderr)  # fmt: skip
        return 2
    module = importlib.import_module(f"tests.bench.{name}")
    sys.argv = [f"python -m tests.bench {name}", *rest]  # each main() parses sys.argv
    result = module.main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
