"""Fixtures for the source tests (helpers in source_helpers.py)."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.ingest.sources.source_helpers import Clock, Intake
from tests.workers.helpers import Harness


@pytest.fixture
def intake(settings: Settings) -> Intake:
    return Intake(Harness(settings))


@pytest.fixture
def clock() -> Clock:
    return Clock()
