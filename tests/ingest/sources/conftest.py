"""Fixtures for the source tests (helpers in tests/support/sources.py)."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.support.pipeline import Harness
from tests.support.sources import Clock, Intake


@pytest.fixture
def intake(settings: Settings) -> Intake:
    return Intake(Harness(settings))


@pytest.fixture
def clock() -> Clock:
    return Clock()
