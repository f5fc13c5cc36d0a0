"""`panodock status` counts what is really in Redis (a real broker and consumer)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis

from config.settings import Settings
from workers.ops.status import activity, format_status, queue_stats
from workers.queue.actors import App
from workers.queue.broker import QUEUE
from workers.queue.presence import Presence
from workers.state.ledger import Capture, Ledger, State


def test_queue_stats_count_ready_held_dead_and_stranded(settings: Settings) -> None:
    app = App(settings, settings.redis_url or "")
    client = redis.Redis.from_url(settings.redis_url or "")
    for n in range(5):
        app.enqueue(f"capture-{n}")
    stats = queue_stats(client, QUEUE, heartbeat_seconds=30)
    assert (stats.ready, stats.in_flight, stats.dead, stats.workers_alive) == (5, 0, 0, 0)

    consumer = app.broker.consume(QUEUE, prefetch=2, timeout=1000)
    first, second = next(consumer), next(consumer)
    consumer.nack(first)  # dead-lettered
    stats = queue_stats(client, QUEUE, heartbeat_seconds=30)
    assert (stats.ready, stats.in_flight, stats.dead, stats.stranded) == (3, 1, 1, 0)

    # The consumer goes silent: what it holds is stranded until maintenance requeues it.
    time.sleep(0.3)
    stats = queue_stats(client, QUEUE, heartbeat_seconds=0.2)
    assert (stats.in_flight, stats.stranded) == (0, 1)
    consumer.ack(second)

    presence = Presence(client=client, ttl=5, threads=1)
    presence.start()
    try:
        stats = queue_stats(client, QUEUE, heartbeat_seconds=30)
        assert stats.workers_alive == 1
    finally:
        presence.stop()
    assert queue_stats(client, QUEUE, heartbeat_seconds=30).workers_alive == 0

    text = format_status(stats, {s: 0 for s in State} | {State.PUBLISHED: 4}, [])
    assert "published 4" in text and "captures  3      0        0" in text
    consumer.close()


def test_last_hour_counts_are_exact_above_five_hundred_and_keep_failed_apart(
    settings: Settings,
) -> None:
    ledger = Ledger(client=redis.Redis.from_url(settings.redis_url or ""))
    ends = [State.PUBLISHED] * 1303 + [State.FAILED] * 7 + [State.QUARANTINED] * 11
    for n, end in enumerate(ends):
        capture_id = f"c{n:05d}"
        ledger.create(Capture(id=capture_id, site="s", scene=f"s{n}", source="t", files=[]))
        ledger.transition(capture_id, State.PROCESSING, stage="metadata")
        ledger.transition(capture_id, end, reason=None if end == State.PUBLISHED else "why")
    recent = activity(ledger, now=datetime.now(UTC))
    assert recent.published == 1303 and sum(recent.per_minute) == 1303
    assert (recent.failed, recent.quarantined) == (7, 11)
    assert recent.as_dict()["quarantined"] == 11
    assert round(recent.error_rate, 4) == round(18 / 1321, 4)
