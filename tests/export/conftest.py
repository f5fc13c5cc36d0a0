"""Fixtures of the export tests: the pinned viewers installed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.http.viewer_assets import install_viewers


@pytest.fixture(scope="session")
def viewers_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory with the pinned viewers installed (what ``<data_dir>/web`` holds)."""
    cache = tmp_path_factory.mktemp("web")
    install_viewers(cache)
    return cache
