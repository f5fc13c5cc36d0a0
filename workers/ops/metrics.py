"""``/metrics``: the queue and the ledger in Prometheus' text format.

dramatiq's Prometheus middleware counts messages per worker process and has no queue depth
(and binds 0.0.0.0:9191 by default, BRIEF.md); these gauges are read from Redis at scrape
time, so any one status service reports the whole cluster. Names::

    panodock_queue_messages{queue, state}        ready, delayed, in_flight, stranded, dead
    panodock_queue_oldest_ready_seconds{queue}   age of the oldest ready message
    panodock_workers_alive                       worker processes with a live presence key
    panodock_captures{state}                     captures per ledger state
    panodock_published_last_hour                 captures published in the last hour
    panodock_failed_last_hour                    captures failed or quarantined in it
    panodock_retries_last_hour                   attempts that failed and were retried
    panodock_stage_seconds{stage, quantile}      stage durations (0.5, 0.95) in the last hour
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
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
    ) -> None:
        self.queue = queue
        self.queue_stats = queue_stats
        self.counts = counts
        self.activity = activity

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
            ("failed", recent.failed, "Captures failed or quarantined in the last hour."),
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


def exposition(collector: PanodockCollector) -> bytes:
    """The text exposition of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
