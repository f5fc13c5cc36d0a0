"""The architecture's promises, checked by reading the code with ``ast`` (nothing is imported).

Four rules (the issue's "pure code moves down, I/O moves up", STYLE.md #1 and #4):

- ``imports``: ``stitching/`` and ``tiling/`` import nothing from ``ingest/`` or ``workers/``,
  ``stitching/`` nothing from ``tiling/``, ``config/`` nothing from ``ingest/`` or
  ``workers/`` (module level and inside functions; ``import x``, ``from x import y``,
  relative imports and ``importlib.import_module("x")`` alike);
- ``io``: ``stitching/`` and ``tiling/`` open no files: no ``open``,
  no ``.read_text()``/``.read_bytes()``/``.write_text()``/``.write_bytes()``/``.open()`` on
  anything, no ``cv2.imread``/``imwrite``, ``np.load``/``save``/``fromfile`` (and kin),
  ``tomllib.load``, ``pyvips.Image.new_from_file`` and no ``__file__`` (data files are
  read at the edge and passed in);
- ``environ``: ``os.environ``/``os.getenv`` nowhere in the product but ``config/settings.py``
  (so not in ``stitching/`` and ``tiling/`` either: they read no environment);
- ``size``: no product module over :data:`MAX_LINES` lines.

Names are resolved through each module's imports, so ``import numpy as np; np.load(...)``
and ``from os import getenv`` are both found. :func:`check_tree` returns every
:class:`Violation` with its file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PRODUCT: Final = ("config", "ingest", "stitching", "tiling", "workers")
MAX_LINES: Final = 450
#: package -> the packages it must not import
FORBIDDEN_IMPORTS: Final[dict[str, tuple[str, ...]]] = {
    "stitching": ("ingest", "workers", "tiling"),
    "tiling": ("ingest", "workers"),
    "config": ("ingest", "workers"),
}
PURE: Final = ("stitching", "tiling")
#: The one module that reads the environment.
SETTINGS_MODULE: Final = "config/settings.py"

ENVIRONMENT: Final = frozenset(
    {"os.environ", "os.environb", "os.getenv", "os.getenvb", "os.putenv", "os.unsetenv"}
)
#: Fully qualified names whose use reads or writes a file.
FILE_IO: Final = frozenset(
    {
        "open",
        "io.open",
        "os.open",
        "cv2.imread",
        "cv2.imreadmulti",
        "cv2.imwrite",
        "numpy.load",
        "numpy.save",
        "numpy.savez",
        "numpy.savez_compressed",
        "numpy.fromfile",
        "numpy.loadtxt",
        "numpy.savetxt",
        "numpy.genfromtxt",
        "tomllib.load",
        "pyvips.Image.new_from_file",
    }
)
#: Methods that read or write a file whatever they are called on (Path, pyvips.Image, ...).
FILE_METHODS: Final = frozenset(
    {"read_text", "read_bytes", "write_text", "write_bytes", "open", "tofile", "write_to_file"}
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken promise: the file (relative to the checked root), the line, the rule."""

    path: str
    line: int
    rule: str  # "imports", "io", "size" or "environ"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


def check_tree(root: Path) -> list[Violation]:
    """Every violation in the product packages under ``root``, sorted by file and line."""
    found: list[Violation] = []
    for path in product_modules(root):
        found.extend(check_module(root, path))
    return sorted(found, key=lambda v: (v.path, v.line, v.rule, v.message))


def product_modules(root: Path) -> Iterator[Path]:
    """The ``.py`` files of the product packages under ``root``."""
    for package in PRODUCT:
        yield from sorted((root / package).rglob("*.py"))


def check_module(root: Path, path: Path) -> list[Violation]:
    """The violations in one module (``path`` lies under ``root``)."""
    rel = path.relative_to(root).as_posix()
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=rel)
    package = rel.split("/", 1)[0]
    module = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    is_package = path.name == "__init__.py"
    found: list[Violation] = []

    lines = len(source.splitlines())
    if lines > MAX_LINES:
        found.append(Violation(rel, 1, "size", f"{lines} lines, over {MAX_LINES}"))

    forbidden = FORBIDDEN_IMPORTS.get(package, ())
    for statement, imported in _imports(tree, module, is_package):
        if imported.split(".", 1)[0] in forbidden:
            line = statement.lineno
            found.append(Violation(rel, line, "imports", f"{package}/ imports {imported}"))

    names = _Names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr):  # names, attributes and calls are expressions
            continue
        used = names.qualified(node)
        if used in ENVIRONMENT and rel != SETTINGS_MODULE:
            found.append(Violation(rel, node.lineno, "environ", f"reads the environment ({used})"))
        if package in PURE:
            found.extend(_file_io(rel, node, used, names))
    return found


def _file_io(rel: str, node: ast.expr, used: str | None, names: _Names) -> Iterator[Violation]:
    """What ``node`` does with files, if anything (in a pure package)."""
    if used in FILE_IO:
        yield Violation(rel, node.lineno, "io", f"opens a file ({used})")
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in FILE_METHODS
        and names.qualified(node.func) is None  # a module's function is judged by its name
    ):
        yield Violation(rel, node.lineno, "io", f"opens a file (.{node.func.attr}())")
    elif isinstance(node, ast.Name) and node.id == "__file__":
        yield Violation(rel, node.lineno, "io", "finds a data file by __file__")


def _imports(
    tree: ast.Module, module: str, is_package: bool
) -> Iterator[tuple[ast.stmt | ast.Call, str]]:
    """Every module an import statement (or ``importlib.import_module("...")``) names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node, _absolute(module, is_package, node.level, node.module)
            elif node.module:
                yield node, node.module
        elif (
            isinstance(node, ast.Call)
            and _dotted(node.func) in ("importlib.import_module", "import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node, node.args[0].value


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from <level dots><name> import ...`` in ``module``."""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


class _Names:
    """Resolves names and attribute chains through the module's imports.

    ``np.load`` after ``import numpy as np`` is ``numpy.load``; ``getenv`` after
    ``from os import getenv`` is ``os.getenv``; a bare ``open`` is the builtin.
    """

    def __init__(self, tree: ast.Module) -> None:
        self._aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self._aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".", 1)[0]
                        self._aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self._aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, node: ast.AST) -> str | None:
        """The fully qualified name ``node`` refers to, for a Name or an Attribute chain."""
        if not isinstance(node, ast.Name | ast.Attribute):
            return None
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self._aliases:
            full = self._aliases[head]
            return f"{full}.{rest}" if rest else full
        return dotted if head == "open" and not rest else None
