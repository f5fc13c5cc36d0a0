"""The dramatiq broker on Redis, set up for crash-safe delivery (BRIEF.md queue facts).

Every name a message carries is here: the queue and the actor names, so the status page,
the dead letters and the log context refer to the same strings as the actors. What is
retried is decided by the one outcome table, ``config.outcomes``, which dramatiq's
Retries middleware consults through :func:`retry_when`. Webhook deliveries (their queue,
actor and retry policy) are :mod:`workers.notify.delivery`'s.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from config.outcomes import outcome
from config.settings import Settings
from workers.queue.stage_limits import StageClock, StageLimits

QUEUE = "captures"
#: Maintenance (requeueing jobs of dead workers) on every fetch, not once per 1000:
#: with dramatiq's default a SIGKILLed worker's jobs came back after 826-1010 s (BRIEF.md).
MAINTENANCE_EVERY_CALL = 1_000_000
DEAD_MESSAGE_TTL_MS = 14 * 24 * 3600 * 1000
#: The actor that processes a capture (its one argument is the capture id).
PROCESS_CAPTURE = "process_capture"
#: The actor called when a capture's retries ran out.
CAPTURE_GAVE_UP = "capture_gave_up"


def redis_client(url: str) -> redis.Redis:
    """A client with timeouts, so a dead Redis fails loudly instead of hanging."""
    return redis.Redis.from_url(url, socket_connect_timeout=5)


def retry_when(max_retries: int) -> Callable[[int, BaseException], bool]:
    """dramatiq's retry predicate: the outcome table says "retry" and retries are left.

    ``retries`` is how many times the message was retried before this failure (dramatiq
    counts from 0). Set, the predicate takes the place of ``max_retries``, so it checks it.
    """

    def should_retry(retries: int, exception: BaseException) -> bool:
        return outcome(exception) == "retry" and retries < max_retries

    return should_retry


def make_broker(
    settings: Settings, url: str, *, stage_clock: StageClock | None = None
) -> RedisBroker:
    """A Redis broker set up for crash-safe delivery (see BRIEF.md queue facts).

    With ``stage_clock``, the :class:`StageLimits` middleware bounds each pipeline stage.
    """
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=int(settings.job_time_limit_seconds * 1000)),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.max_retries,
            min_backoff=1000,
            max_backoff=60_000,
            retry_when=retry_when(settings.max_retries),
        ),
        CurrentMessage(),
    ]
    if stage_clock is not None:
        middleware.append(StageLimits(stage_clock))
    return RedisBroker(
        client=redis_client(url),
        middleware=middleware,
        maintenance_chance=MAINTENANCE_EVERY_CALL,
        heartbeat_timeout=int(settings.heartbeat_seconds * 1000),
        dead_message_ttl=DEAD_MESSAGE_TTL_MS,
    )
