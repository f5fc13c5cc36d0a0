"""What the queue and the ledger look like right now, for ``panodock status``.

dramatiq's Redis layout (namespace ``dramatiq``): ``<queue>`` list of ready message ids,
``<queue>.DQ`` the delayed (retry back-off) queue, ``<queue>.XQ`` a sorted set of
dead-lettered ids, ``__acks__.<worker>.<queue>`` a set per worker of messages it holds,
``__heartbeats__`` a sorted set of worker ids by last heartbeat (ms), ``<queue>.msgs`` the
bodies of ready and held messages.

Rates and stage durations come from the ledger: every capture's history has a timestamped
event per state change and per pipeline stage, so the last hour's activity is read from the
histories of the captures touched in it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
import redis
from dramatiq import Message

from workers.queue.presence import live_workers, read_reports
from workers.state.ledger import UNFINISHED, Capture, Ledger, State, as_text

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
    oldest_ready_seconds: float | None = field(
        default=None, metadata={"doc": "Age of the message at the head of the ready list."}
    )


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
        oldest_ready_seconds=_oldest_ready_seconds(client, queue, now_ms),
        ready=int(client.llen(f"{NS}:{queue}")),
        delayed=int(client.hlen(f"{NS}:{queue}.DQ.msgs")),
        dead=int(client.zcard(f"{NS}:{queue}.XQ")),
        in_flight=in_flight,
        workers_alive=len(live_workers(client)),
        stranded=stranded,
    )


def format_status(
    stats: QueueStats,
    counts: dict[State, int],
    recent_failures: list[Capture],
    watchers: list[dict[str, Any]] | None = None,
    recent: Activity | None = None,
) -> str:
    """The plain-text report of ``panodock status`` (``recent``: the last hour's activity)."""
    lines = [
        "queue     ready  delayed  in-flight  stranded  dead   workers",
        f"captures  {stats.ready:<6} {stats.delayed:<8} {stats.in_flight:<10} "
        f"{stats.stranded:<9} {stats.dead:<6} {stats.workers_alive}",
        "",
        "captures  " + "  ".join(f"{state.value} {n}" for state, n in counts.items()),
    ]
    for watcher in watchers or []:  # a paused intake is the first thing an operator must see
        if watcher.get("paused"):
            lines += ["", f"INTAKE PAUSED: {watcher['paused']['message']}"]
    if recent is not None:
        lines += ["", "last hour " + recent.summary()]
    folders = pending_folders(watchers or [])
    if folders:
        lines += ["", "inbox folders without capture.json:"]
        lines += [f"  {f['folder']}  {f['files']} file(s)  {f['message']}" for f in folders]
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
        detail += f"  (by {event.by})" if event.by else ""
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


def _oldest_ready_seconds(client: redis.Redis, queue: str, now_ms: float) -> float | None:
    # dramatiq pushes to the tail and pops from the head: the head is the oldest.
    head = client.lindex(f"{NS}:{queue}", 0)
    if head is None:
        return None
    body = client.hget(f"{NS}:{queue}.msgs", as_text(head))
    if body is None:
        return None
    message = Message.decode(body if isinstance(body, bytes) else str(body).encode())
    return max(0.0, (now_ms - message.message_timestamp) / 1000)


def worker_rows(client: redis.Redis) -> list[dict[str, Any]]:
    """Live worker processes with the age of their last presence beat, in seconds."""
    now = time.time()
    return [
        {**w, "beat_age_seconds": round(now - float(str(w.get("at", now))), 3)}
        for w in live_workers(client)
    ]


# -- activity from the ledger histories -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Activity:
    """What the pipeline did in the last ``window_seconds``."""

    window_seconds: float
    published: int
    failed: int
    retries: int
    per_minute: list[int] = field(metadata={"doc": "Publications per minute, oldest first."})
    stage_seconds: dict[str, dict[str, float]] = field(
        metadata={"doc": "Per stage: n, p50 and p95 of its duration in seconds."}
    )
    quarantined: int = 0

    @property
    def throughput_per_minute(self) -> float:
        return self.published / (self.window_seconds / 60)

    @property
    def error_rate(self) -> float:
        """Failed and quarantined captures over every capture that finished."""
        done = self.published + self.failed + self.quarantined
        return (self.failed + self.quarantined) / done if done else 0.0

    @property
    def retry_rate(self) -> float:
        """Retried attempts per finished capture."""
        done = self.published + self.failed + self.quarantined
        return self.retries / done if done else 0.0

    def summary(self) -> str:
        """One line: failed and quarantined counted apart, then the rates."""
        return (
            f"{self.published} published, {self.failed} failed, {self.quarantined} "
            f"quarantined, {self.retries} retried attempts; "
            f"{self.throughput_per_minute:.2f}/min, error rate (failed + quarantined) "
            f"{self.error_rate * 100:.1f} %, retry rate {self.retry_rate * 100:.1f} %"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_seconds": self.window_seconds,
            "published": self.published,
            "failed": self.failed,
            "quarantined": self.quarantined,
            "retries": self.retries,
            "throughput_per_minute": round(self.throughput_per_minute, 3),
            "error_rate": round(self.error_rate, 4),
            "retry_rate": round(self.retry_rate, 4),
            "per_minute": self.per_minute,
            "stage_seconds": self.stage_seconds,
        }


def activity(
    ledger: Ledger, *, now: datetime, window_seconds: float = 3600.0, max_captures: int = 500
) -> Activity:
    """Throughput, failures, retries and stage durations (p50/p95) in the window.

    The counts (published, failed, quarantined, per minute) are exact, whatever their size:
    they come from the ledger's per-state sets, where a capture's score is the time it
    entered its current state. A capture that entered a final state in the window counts
    once, in the state it is in now. Retries and stage durations are read from the
    histories of the ``max_captures`` most recently updated captures (a sample: reading
    every history would cost one round trip per capture); a stage lasts from its event to
    the capture's next event.
    """
    since = now - timedelta(seconds=window_seconds)
    until = since + timedelta(seconds=window_seconds)
    minutes = max(1, int(window_seconds // 60))
    per_minute = [0] * minutes
    published_at = _entered(ledger, State.PUBLISHED, since, until)
    for at in published_at:
        slot = int((at - since.timestamp()) // 60)
        per_minute[min(max(slot, 0), minutes - 1)] += 1
    failed = len(_entered(ledger, State.FAILED, since, until))
    quarantined = len(_entered(ledger, State.QUARANTINED, since, until))
    retries = 0
    durations: dict[str, list[float]] = {}
    for capture_id in _recent_ids(ledger, since, max_captures):
        events = ledger.history(capture_id)
        for event, following in zip(events, [*events[1:], None], strict=True):
            if event.at < since:
                continue
            if event.kind == "retry":
                retries += 1
            if event.state == State.PROCESSING and event.stage and following is not None:
                spent = (following.at - event.at).total_seconds()
                durations.setdefault(event.stage, []).append(spent)
    stages = {
        stage: {
            "n": len(values),
            "p50": round(float(np.percentile(values, 50)), 4),
            "p95": round(float(np.percentile(values, 95)), 4),
        }
        for stage, values in sorted(durations.items())
    }
    return Activity(
        window_seconds, len(published_at), failed, retries, per_minute, stages, quarantined
    )


def _entered(ledger: Ledger, state: State, since: datetime, until: datetime) -> list[float]:
    """When each capture now in ``state`` entered it, for those that did in the window."""
    rows = cast(
        list[tuple[bytes, float]],
        ledger.client.zrangebyscore(
            f"{ledger.ns}:state:{state.value}", since.timestamp(), until.timestamp(),
            withscores=True,
        ),
    )  # fmt: skip
    return [float(score) for _, score in rows]


def _recent_ids(ledger: Ledger, since: datetime, limit: int) -> list[str]:
    # A capture that changed state since ``since`` sits in its state's set (see ledger.py)
    # with a score of at least ``since``.
    found: list[tuple[float, str]] = []
    for state in State:
        rows = cast(
            list[tuple[bytes, float]],
            ledger.client.zrevrangebyscore(
                f"{ledger.ns}:state:{state.value}", "+inf", since.timestamp(), 0, limit,
                withscores=True,
            ),
        )  # fmt: skip
        found += [(float(score), as_text(cid)) for cid, score in rows]
    return [cid for _, cid in sorted(found, reverse=True)[:limit]]


# -- watcher health, published by the watcher process ---------------------------------------

WATCHER_KEY = "panodock:watcher"


def publish_watcher_health(
    client: redis.Redis, name: str, health: dict[str, Any], *, ttl_seconds: float
) -> None:
    """Record one watcher's health (``WatcherHealth`` as a dict) for the status service."""
    body = json.dumps({**health, "name": name, "reported_at": time.time()})
    client.set(f"{WATCHER_KEY}:{name}", body, px=int(ttl_seconds * 1000))


def watcher_health(client: redis.Redis) -> list[dict[str, Any]]:
    """Every watcher that reported within its TTL (empty: none is running, or none reports)."""
    return sorted(read_reports(client, f"{WATCHER_KEY}:*"), key=lambda w: str(w["name"]))


def floors_to_verify(store: Any, sites: list[str]) -> list[dict[str, Any]]:
    """Floors of ``sites`` never verified by a walkthrough, verified over a year ago, or
    whose scenes changed after their last walkthrough (:func:`workers.sites.verify.floors_due`).
    """
    from config.errors import ObjectNotFound
    from workers.contract.keys import tour_key
    from workers.contract.tour import Tour
    from workers.sites.registry import load_site
    from workers.sites.verify import floors_due

    rows = []
    for site in sites:
        registry = load_site(store, site)
        if registry is None:
            continue
        try:
            tour: Tour | None = Tour.model_validate_json(store.get(tour_key(site)))
        except ObjectNotFound:
            tour = None
        for due in floors_due(registry, tour):
            last = due.last
            rows.append(
                {
                    "site": due.site,
                    "floor": due.floor,
                    "reason": due.reason,
                    "last_verified": last.date.isoformat() if last else None,
                    "by": last.by if last else None,
                }
            )
    return rows


# -- the console's rows: thumbnails, superseded failures, folders waiting -------------------


def scene_rows(ledger: Ledger, limit: int = 200) -> list[dict[str, str]]:
    """Published scenes, each with its live version's thumbnail key (from the ledger).

    The live version of a scene is that of its newest published capture (a pointer never
    goes back in time), so no pointer is read.
    """
    live: dict[tuple[str, str], Capture] = {}
    for capture in ledger.in_state(State.PUBLISHED, limit=limit):
        place = (capture.site, capture.scene)
        if place not in live or capture.created_at > live[place].created_at:
            live[place] = capture
    rows = []
    for (site, scene), capture in sorted(live.items()):
        row = {"site": site, "scene": scene}
        if capture.version:
            row["thumb"] = f"scenes/{site}/{scene}/{capture.version}/thumb.jpg"
        rows.append(row)
    return rows


def failure_rows(ledger: Ledger, failures: list[Capture], limit: int = 200) -> list[dict[str, Any]]:
    """``failures`` for the console: each with ``superseded_by`` when a later capture of
    the same folder (its source) or the same scene was taken since (None otherwise)."""
    later: list[Capture] = []
    if failures:
        for state in (State.PUBLISHED, State.REVIEW, *UNFINISHED):
            later += ledger.in_state(state, limit=limit)
    rows = []
    for failure in failures:
        newer = [
            c for c in later if c.created_at > failure.created_at and c.id != failure.id
            and (c.source == failure.source or (c.site, c.scene) == (failure.site, failure.scene))
        ]  # fmt: skip
        row = failure.model_dump(mode="json", include=FAILURE_FIELDS)
        row["superseded_by"] = None
        if newer:
            best = max(newer, key=lambda c: c.created_at)
            row["superseded_by"] = {
                "id": best.id, "state": best.state.value, "site": best.site, "scene": best.scene,
                "message": f"superseded by capture {best.id[:12]} of the same "
                f"{'folder' if best.source == failure.source else 'scene'} "
                f"({best.state.value}, {best.site}/{best.scene})",
            }  # fmt: skip
        rows.append(row)
    return rows


#: Capture fields of a failure row (``GET /api/status`` ``recent_failures``).
FAILURE_FIELDS = {"id", "state", "stage", "reason", "site", "scene", "source", "updated_at"}


def pending_folders(watchers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inbox folders without ``capture.json`` that wait for quiet, from the watchers' reports."""
    from ingest.candidates import waiting_message

    now = time.time()
    rows = []
    for watcher in watchers:
        since = max(0.0, now - float(watcher.get("reported_at") or now))
        for folder in watcher.get("waiting") or []:
            left = max(0.0, float(folder.get("remaining_seconds", 0)) - since)
            rows.append({
                **folder, "watcher": watcher.get("name"), "remaining_seconds": round(left, 1),
                "message": waiting_message(left),
            })  # fmt: skip
    return rows
