"""What the queue and the ledger look like right now, for ``panodock status``.

dramatiq's Redis layout (namespace ``dramatiq``): ``<queue>`` list of ready message ids,
``<queue>.DQ`` the delayed (retry back-off) queue, ``<queue>.XQ`` a sorted set of
dead-lettered ids, ``__acks__.<worker>.<queue>`` a set per worker of messages it holds,
``__heartbeats__`` a sorted set of worker ids by last heartbeat (ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import cast

import redis

from workers.ledger import Capture, Ledger, State, as_text
from workers.presence import live_workers

NS = "dramatiq"


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depths of one dramatiq queue."""

    ready: int
    delayed: int
    dead: int
    in_flight: int
    workers_alive: int
    stranded: int = field(default=0)


def queue_stats(client: redis.Redis, queue: str, *, heartbeat_seconds: float) -> QueueStats:
    """Count ready, delayed, dead-lettered and held messages, and live workers."""
    now_ms = time.time() * 1000
    cutoff = now_ms - heartbeat_seconds * 1000
    beats: dict[str, float] = {
        as_text(w): float(score)
        for w, score in cast(
            list[tuple[bytes, float]],
            client.zrange(f"{NS}:__heartbeats__", 0, -1, withscores=True),
        )
    }
    in_flight = stranded = 0
    for key in client.scan_iter(f"{NS}:__acks__.*"):
        name = as_text(key)
        if not name.endswith(f".{queue}"):
            continue  # the .DQ sets hold back-off retries, counted as delayed
        worker = name[len(f"{NS}:__acks__.") :].split(".", 1)[0]
        held = int(client.scard(key))
        if beats.get(worker, 0) >= cutoff:
            in_flight += held
        else:
            stranded += held
    return QueueStats(
        ready=int(client.llen(f"{NS}:{queue}")),
        delayed=int(client.hlen(f"{NS}:{queue}.DQ.msgs")),
        dead=int(client.zcard(f"{NS}:{queue}.XQ")),
        in_flight=in_flight,
        workers_alive=len(live_workers(client)),
        stranded=stranded,
    )


def format_status(
    stats: QueueStats, counts: dict[State, int], recent_failures: list[Capture]
) -> str:
    """The plain-text report of ``panodock status``."""
    lines = [
        "queue     ready  delayed  in-flight  stranded  dead   workers",
        f"captures  {stats.ready:<6} {stats.delayed:<8} {stats.in_flight:<10} "
        f"{stats.stranded:<9} {stats.dead:<6} {stats.workers_alive}",
        "",
        "captures  " + "  ".join(f"{state.value} {n}" for state, n in counts.items()),
    ]
    if recent_failures:
        lines += ["", "recent failures:"]
        for c in recent_failures:
            lines.append(f"  {c.id[:12]}  {c.state.value:<11} {c.source}")
            lines.append(f"      {c.reason}")
    return "\n".join(lines)


def format_history(ledger: Ledger, capture: Capture) -> str:
    """One capture's record and history for ``panodock status <capture>``."""
    lines = [
        f"capture {capture.id}",
        f"  state    {capture.state.value}" + (f" ({capture.stage})" if capture.stage else ""),
        f"  scene    {capture.site}/{capture.scene}"
        + (f" version {capture.version}" if capture.version else ""),
        f"  source   {capture.source}",
        "  files    "
        + ", ".join(f"{f.name} ({f.size} B, sha256 {f.sha256[:12]})" for f in capture.files),
    ]
    if capture.reason:
        lines.append(f"  reason   {capture.reason}")
    lines.append("history:")
    for event in ledger.history(capture.id):
        stage = f"/{event.stage}" if event.stage else ""
        detail = f"  {event.detail}" if event.detail else ""
        lines.append(
            f"  {event.at.isoformat(timespec='milliseconds')}  {event.state.value}{stage}{detail}"
        )
    return "\n".join(lines)


def recent_failures(ledger: Ledger, limit: int = 10) -> list[Capture]:
    """The newest failed and quarantined captures, newest first."""
    rows = ledger.in_state(State.FAILED, limit=limit) + ledger.in_state(
        State.QUARANTINED, limit=limit
    )
    return sorted(rows, key=lambda c: c.updated_at, reverse=True)[:limit]
