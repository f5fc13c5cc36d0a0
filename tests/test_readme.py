"""The README says what the code does: its settings table and its test command."""

from __future__ import annotations

import re
from pathlib import Path

from config.settings import Settings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_settings_table_matches_the_settings_model() -> None:
    rows = re.findall(r"^\| `PANODOCK_(\w+)` \|\s*`?([^|`]*?)`?\s*\| (.+) \|$", README, re.M)
    documented = {name.lower(): (default.strip(), text.strip()) for name, default, text in rows}
    assert set(documented) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        default = "" if value is None else str(value)
        assert documented[name] == (default, field.description), name


def _test_command() -> str:
    blocks = re.findall(r"```bash\n(.+?)\n```", README, re.S)
    return next(b for b in blocks if "pytest" in b)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _test_command() in ci.splitlines()


def test_the_test_command_lints_and_type_checks_every_product_package() -> None:
    steps = [step.strip() for step in _test_command().split("&&")]
    assert ".venv/bin/ruff check ." in steps
    assert ".venv/bin/mypy config ingest stitching tiling workers" in steps
    assert steps[-1] == ".venv/bin/pytest"  # the whole suite, after the linters
