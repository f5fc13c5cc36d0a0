"""Dead-lettered jobs: list them and put them back on their queue.

dramatiq's Redis broker keeps a dead-lettered message id in the sorted set
``dramatiq:<queue>.XQ`` (scored by the time it died) and its body in the hash
``dramatiq:<queue>.XQ.msgs``, for ``dead_message_ttl``. dramatiq has no API to re-queue
them, so this module reads those two keys and enqueues a fresh copy of each message (retry
count reset) through the broker, then removes it from the dead-letter set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from workers.state.ledger import as_text

NS = "dramatiq"


@dataclass(frozen=True, slots=True)
class DeadJob:
    """One dead-lettered message."""

    message_id: str
    actor: str
    args: tuple[object, ...]
    died_at: datetime
    last_error: str


def dead_jobs(client: redis.Redis, queue: str) -> list[DeadJob]:
    """Every dead-lettered message of ``queue``, oldest first."""
    out = []
    rows = cast(
        list[tuple[bytes, float]], client.zrange(f"{NS}:{queue}.XQ", 0, -1, withscores=True)
    )
    for raw_id, score in rows:
        message_id = as_text(raw_id)
        body = client.hget(f"{NS}:{queue}.XQ.msgs", message_id)
        if body is None:
            continue
        message = Message.decode(body if isinstance(body, bytes) else str(body).encode())
        trace = str(message.options.get("traceback") or "").strip().splitlines()
        out.append(
            DeadJob(
                message_id=message_id,
                actor=message.actor_name,
                args=tuple(message.args),
                died_at=datetime.fromtimestamp(float(score) / 1000, UTC),
                last_error=trace[-1].strip() if trace else "",
            )
        )
    return out


def requeue_dead(broker: RedisBroker, queue: str) -> list[DeadJob]:
    """Put every dead-lettered message of ``queue`` back on it; returns what was re-queued."""
    client = broker.client
    jobs = dead_jobs(client, queue)
    for job in jobs:
        body = client.hget(f"{NS}:{queue}.XQ.msgs", job.message_id)
        if body is None:
            continue  # another operator got there first
        old = Message.decode(body if isinstance(body, bytes) else str(body).encode())
        options = {k: v for k, v in old.options.items() if k not in ("retries", "traceback")}
        fresh: Message[object] = Message(
            queue_name=queue,
            actor_name=old.actor_name,
            args=old.args,
            kwargs=old.kwargs,
            options=options,
        )
        broker.enqueue(fresh)
        pipe = client.pipeline()
        pipe.zrem(f"{NS}:{queue}.XQ", job.message_id)
        pipe.hdel(f"{NS}:{queue}.XQ.msgs", job.message_id)
        pipe.execute()
    return jobs
