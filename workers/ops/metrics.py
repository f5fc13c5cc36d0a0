"""``/metrics``: the queue and the ledger in Prometheus' text format.

dramatiq's Prometheus middleware counts messages per worker process and has no queue depth
(and binds 0.0.0.0:9191 by default, BRIEF.md); these gauges are read from Redis at scrape
time, so any one status service reports the whole cluster. Names::

    panodock_queue_messages{queue, state}        ready, delayed, in_flight, stranded, dead
    panodock_queue_oldest_ready_seconds{queue}   age of the oldest ready message
    panodock_workers_alive                       worker processes with a live presence key
    panodock_captures{state}                     captures per ledger state
    panodock_published_last_hour                 captures published in the last hour
    panodock_failed_last_hour                    captures failed in it
    panodock_quarantined_last_hour               captures quarantined in it
    panodock_retries_last_hour                   attempts that failed and were retried
    panodock_stage_seconds{stage, quantile}      stage durations (0.5, 0.95) in the last hour
    panodock_share_requests_total{share, label}  requests through each share link (audit log)
    panodock_intake_paused{reason}               1 while a watcher takes no new files (disk, redis)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from workers.ops.status import Activity, QueueStats
from workers.state.ledger import State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PanodockCollector(Collector):
    """Collects the gauges above from callables that read Redis at scrape time."""

    def __init__(
        self,
        *,
        queue: str,
        queue_stats: Callable[[], QueueStats],
        counts: Callable[[], dict[State, int]],
        activity: Callable[[], Activity],
        share_requests: Callable[[], list[tuple[str, str, int]]] | None = None,
        watchers: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.queue = queue
        self.queue_stats = queue_stats
        self.counts = counts
        self.activity = activity
        self.share_requests = share_requests
        self.watchers = watchers

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self.queue_stats()
        depth = GaugeMetricFamily(
            "panodock_queue_messages", "Messages in a dramatiq queue by state.",
            labels=["queue", "state"],
        )  # fmt: skip
        for state in ("ready", "delayed", "in_flight", "stranded", "dead"):
            depth.add_metric([self.queue, state], getattr(stats, state))
        yield depth
        oldest = GaugeMetricFamily(
            "panodock_queue_oldest_ready_seconds",
            "Age of the oldest ready message (0 when the queue is empty).",
            labels=["queue"],
        )
        oldest.add_metric([self.queue], stats.oldest_ready_seconds or 0.0)
        yield oldest
        yield GaugeMetricFamily(
            "panodock_workers_alive", "Worker processes alive.", value=stats.workers_alive
        )
        captures = GaugeMetricFamily(
            "panodock_captures", "Captures per ledger state.", labels=["state"]
        )
        for state, n in self.counts().items():
            captures.add_metric([state.value], n)
        yield captures
        recent = self.activity()
        for name, value, text in (
            ("published", recent.published, "Captures published in the last hour."),
            ("failed", recent.failed, "Captures failed in the last hour."),
            ("quarantined", recent.quarantined, "Captures quarantined in the last hour."),
            ("retries", recent.retries, "Attempts that failed and were retried, last hour."),
        ):
            yield GaugeMetricFamily(f"panodock_{name}_last_hour", text, value=value)
        stages = GaugeMetricFamily(
            "panodock_stage_seconds", "Pipeline stage durations in the last hour.",
            labels=["stage", "quantile"],
        )  # fmt: skip
        for stage, row in recent.stage_seconds.items():
            stages.add_metric([stage, "0.5"], row["p50"])
            stages.add_metric([stage, "0.95"], row["p95"])
        yield stages
        if self.share_requests is not None:
            shares = CounterMetricFamily(
                "panodock_share_requests", "Requests through a share link.",
                labels=["share", "label"],
            )  # fmt: skip
            for share_id, label, n in self.share_requests():
                shares.add_metric([share_id, label], n)
            yield shares
        if self.watchers is not None:
            paused = GaugeMetricFamily(
                "panodock_intake_paused",
                "1 while a watcher takes no new files for want of room (disk or Redis).",
                labels=["reason"],
            )
            reasons = {(w.get("paused") or {}).get("reason") for w in self.watchers()}
            for reason in ("disk", "redis"):
                paused.add_metric([reason], 1.0 if reason in reasons else 0.0)
            yield paused


def exposition(collector: PanodockCollector) -> bytes:
    """The text exposition of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
