"""The dramatiq broker on Redis, set up for crash-safe delivery (BRIEF.md queue facts).

Every name a message carries is here: the queue and the actor names, so the status page,
the dead letters and the log context refer to the same strings as the actors.
"""

from __future__ import annotations

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

from config.settings import Settings

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


def make_broker(settings: Settings, url: str) -> RedisBroker:
    """A Redis broker set up for crash-safe delivery (see BRIEF.md queue facts)."""
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=int(settings.job_time_limit_seconds * 1000)),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=settings.max_retries, min_backoff=1000, max_backoff=60_000),
        CurrentMessage(),
    ]
    return RedisBroker(
        client=redis_client(url),
        middleware=middleware,
        maintenance_chance=MAINTENANCE_EVERY_CALL,
        heartbeat_timeout=int(settings.heartbeat_seconds * 1000),
        dead_message_ttl=DEAD_MESSAGE_TTL_MS,
    )
