"""Fixtures for the source tests (helpers in tests/support/sources.py)."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.support.sources import Clock, Intake
from tests.workers.helpers import Harness


@pytest.fixture
def intake(settings: Settings) -> Intake:
    return Intake(Harness(settings))


@pytest.fixture
def clock() -> Clock:
    return Clock()
