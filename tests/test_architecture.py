"""The layout keeps its promises: pure packages stay pure, config imports no I/O, modules
stay small (the checker is tests/support/architecture.py; it reads code, it imports none).

The last two tests run the checker on fixture trees: the offences the code had before the
recut, and one of each kind of thing it must find or must leave alone.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.support.architecture import MAX_LINES, Violation, check_tree

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def violations() -> list[Violation]:
    return check_tree(ROOT)


@pytest.mark.parametrize(
    ("rule", "promise"),
    [
        ("imports", "stitching/ and tiling/ import no ingest/ or workers/, stitching/ no "
         "tiling/, config/ no ingest/ or workers/"),
        ("io", "stitching/ and tiling/ open no files (data is read at the edge, passed in)"),
        ("environ", "only config/settings.py reads the environment"),
        ("size", f"no product module is over {MAX_LINES} lines"),
    ],
)  # fmt: skip
def test_the_product_keeps_its_promise(
    violations: list[Violation], rule: str, promise: str
) -> None:
    broken = [str(v) for v in violations if v.rule == rule]
    assert not broken, f"{promise}; broken at:\n" + "\n".join(broken)


def _write(root: Path, files: dict[str, str]) -> set[tuple[str, int, str]]:
    """Write the fixture tree; return what it must be blamed for (``# expect: <rule>``)."""
    expected: set[tuple[str, int, str]] = set()
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        source = textwrap.dedent(text).lstrip("\n")
        path.write_text(source, encoding="utf-8")
        for number, line in enumerate(source.splitlines(), start=1):
            for rule in re.findall(r"# expect: (\w+)", line):
                expected.add((rel, number, rule))
    return expected


def _found(root: Path) -> set[tuple[str, int, str]]:
    return {(v.path, v.line, v.rule) for v in check_tree(root)}


# What the code did before the recut (issue 12, "Promised boundaries are broken").
PRE_RECUT = {
    "config/sites.py": '''
        """The site registry, read and written in the object store."""


        def save_site(store, site):
            from workers.store.conditional import update_object  # expect: imports

            return update_object(store, f"sites/{site.id}/site.json", site.dump)
        ''',
    "stitching/quality.py": '''
        """Stitch quality: seam error per cube face."""

        from tiling.cube import FACES  # expect: imports
        ''',
    "stitching/lens.py": '''
        """Lens profiles of the dual-fisheye cameras."""

        import tomllib
        from pathlib import Path

        LENSES = Path(__file__).parent / "lenses.toml"  # expect: io


        def builtin_profiles():
            return tomllib.loads(LENSES.read_text(encoding="utf-8"))  # expect: io
        ''',
    "tiling/encode.py": '''
        """Encode tiles."""

        import workers.contract.keys  # expect: imports
        ''',
}


def test_the_checker_names_file_and_line_of_each_pre_recut_offence(tmp_path: Path) -> None:
    expected = _write(tmp_path, PRE_RECUT)
    assert _found(tmp_path) == expected
    reported = "\n".join(map(str, check_tree(tmp_path)))
    assert "config/sites.py:5: [imports] config/ imports workers.store.conditional" in reported
    assert "stitching/quality.py:3: [imports] stitching/ imports tiling.cube" in reported
    assert "stitching/lens.py:6: [io] finds a data file by __file__" in reported
    assert "tiling/encode.py:3: [imports] tiling/ imports workers.contract.keys" in reported


# One of each: aliases, relative and dynamic imports, the environment, and code to leave alone.
EVERY_KIND = {
    "stitching/privacy/model.py": """
        import importlib
        import os
        from os import getenv

        import cv2
        import numpy as np
        from numpy import fromfile as raw

        from ..sphere import to_xyz
        from ...ingest.image import decode_image  # expect: imports


        def load(path):
            net = importlib.import_module("workers.store.local")  # expect: imports
            weights = np.load(path)  # expect: io
            image = cv2.imread(path)  # expect: io
            pixels = raw(path)  # expect: io
            with open(path, "rb") as f:  # expect: io
                data = f.read()
            threshold = getenv("PANODOCK_BLUR_THRESHOLD")  # expect: environ
            home = os.environ["HOME"]  # expect: environ
            return net, weights, image, pixels, data, threshold, home, to_xyz, decode_image
        """,
    "tiling/pyramid.py": """
        import tomllib

        import cv2
        import numpy as np
        import pyvips

        from stitching.sphere import to_xyz


        def fine(data: bytes, text: str):
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            table = tomllib.loads(text)
            tile = pyvips.Image.new_from_buffer(data, "")
            return image, table, tile, to_xyz, np.zeros(3).tobytes()


        def not_fine(path, handle):
            tile = pyvips.Image.new_from_file(path)  # expect: io
            tile.write_to_file(path)  # expect: io
            table = tomllib.load(handle)  # expect: io
            return path.open("rb"), tile, table  # expect: io
        """,
    "config/settings.py": """
        import os

        ENV = os.environ  # the one module that reads the environment
        """,
    "config/data.py": """
        from pathlib import Path

        LENSES = Path(__file__).parent / "lenses.toml"  # config/ is the edge: allowed
        TEXT = LENSES.read_text()
        """,
    "workers/ops/logs.py": """
        import os

        LEVEL = os.getenv("LOG_LEVEL")  # expect: environ
        """,
    "workers/big.py": "x = 1  # expect: size\n" + "x = 1\n" * MAX_LINES,
    "workers/just_small_enough.py": "x = 1\n" * MAX_LINES,
    "tests/stitching/metrics.py": "import workers\n",  # not product code
}


def test_the_checker_finds_each_kind_and_leaves_allowed_code_alone(tmp_path: Path) -> None:
    expected = _write(tmp_path, EVERY_KIND)
    assert _found(tmp_path) == expected
