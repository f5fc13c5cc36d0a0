"""A pipeline whose checks a test chooses, and the held-scene setups the review tests share.

:class:`PutChecks` stands in for the checks stage where a test needs a verdict the real
measurements would not give on its input (a level warning on a level sample, a failed
check); the lens-memory tests use the real frames and the real lens check instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi.testclient import TestClient

from tests.support.pipeline import Harness
from workers.contract.scene import Check
from workers.http.api import create_api
from workers.pipeline.job import Job
from workers.pipeline.runner import Pipeline
from workers.pipeline.stage import Context
from workers.pipeline.stages import STAGES
from workers.pipeline.stages.privacy import Blur

Sent = list[tuple[str, dict[str, Any]]]


class PutChecks:
    """Append the checks a test gives (or computes from the job) before the privacy stage."""

    def __init__(self, checks: Sequence[Check] | Callable[[Job], list[Check]]) -> None:
        self.checks = checks

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return None

    def run(self, job: Job, ctx: Context) -> None:
        found = self.checks(job) if callable(self.checks) else list(self.checks)
        job.checks.extend(found)


def with_checks(
    harness: Harness, checks: Sequence[Check] | Callable[[Job], list[Check]] = ()
) -> Sent:
    """Make ``harness`` run the stages with ``checks`` added; returns the webhooks it sends.

    Jobs an operator action queues (fix, retry) land in ``harness.queued`` as the
    intake's do, so :meth:`Harness.drain` runs them.
    """
    sent: Sent = []
    stages = list(STAGES)
    at = next(i for i, s in enumerate(stages) if isinstance(s, Blur))
    stages.insert(at, PutChecks(checks))
    app = harness.app
    app._pipeline = Pipeline(
        harness.settings, store=harness.store, ledger=app.ledger, inputs=app._inputs(),
        clock=app.clock, stages=stages, notify=lambda event, data: sent.append((event, data)),
    )  # fmt: skip
    app.notify = lambda event, data: sent.append((event, data))  # type: ignore[method-assign]
    app.enqueue = harness.queued.append  # type: ignore[method-assign]
    return sent


def warn(name: str = "level", message: str = "the horizon is rolled 12 deg") -> Check:
    """A warning check, as the checks stage writes one."""
    return Check(name=name, value=12.0, limit=2.0, verdict="warn", message=message)


def level_unless_fixed(job: Job) -> list[Check]:
    """A level check that warns until an operator set the roll (``review fix --roll``)."""
    if job.capture.overrides.roll_deg is not None:
        return [Check(name="level", value=0.4, limit=2.0, verdict="ok",
                      message="the horizon is level within 0.4 deg")]  # fmt: skip
    return [warn()]


def api_client(harness: Harness) -> TestClient:
    """The harness's status API, called from loopback (as the console's tests call it)."""
    app = create_api(harness.settings, harness.settings.redis_url or "", store=harness.store)
    return TestClient(app, base_url="http://localhost", client=("127.0.0.1", 50000))
