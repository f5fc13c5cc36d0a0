from __future__ import annotations

import threading

import pytest
import redis

from workers.state.ledger import (
    FINAL,
    SEEN_PERIOD_SECONDS,
    UNFINISHED,
    UNQUEUED,
    Capture,
    CaptureNotFound,
    Ledger,
    RawFile,
    State,
)


def _capture(cid: str = "a1b2c3d4e5f6a7b8c9d0e1f2") -> Capture:
    raw = RawFile(name="pano.jpg", sha256="0" * 64, size=3, key="raw/" + "0" * 64 + "/pano.jpg")
    return Capture(id=cid, site="default", scene="pano", source="/inbox/pano.jpg", files=[raw])


@pytest.fixture
def ledger(redis_url: str) -> Ledger:
    return Ledger(client=redis.Redis.from_url(redis_url))


def test_create_is_once_per_id(ledger: Ledger) -> None:
    assert ledger.create(_capture())
    assert not ledger.create(_capture())
    assert ledger.counts()[State.RECEIVED] == 1


def test_transition_records_history_and_state_sets(ledger: Ledger) -> None:
    cap = _capture()
    ledger.create(cap, detail="found it")
    ledger.transition(cap.id, State.ARCHIVED)
    ledger.transition(cap.id, State.PROCESSING, stage="tiles")
    ledger.transition(cap.id, State.FAILED, reason="lens 2 image is truncated")
    got = ledger.get(cap.id)
    assert (got.state, got.reason) == (State.FAILED, "lens 2 image is truncated")
    history = ledger.history(cap.id)
    assert [e.state for e in history] == [
        State.RECEIVED,
        State.ARCHIVED,
        State.PROCESSING,
        State.FAILED,
    ]
    assert history[0].detail == "found it" and history[2].stage == "tiles"
    assert all(a.at <= b.at for a, b in zip(history, history[1:], strict=False))
    counts = ledger.counts()
    assert counts[State.FAILED] == 1 and counts[State.RECEIVED] == 0
    assert [c.id for c in ledger.in_state(State.FAILED)] == [cap.id]


def test_expected_state_makes_publish_happen_once(ledger: Ledger) -> None:
    cap = _capture()
    ledger.create(cap)
    ledger.transition(cap.id, State.PROCESSING)
    results = []
    barrier = threading.Barrier(6)

    def publish() -> None:
        barrier.wait()
        results.append(ledger.transition(cap.id, State.PUBLISHED, expect={State.PROCESSING}))

    threads = [threading.Thread(target=publish) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert [e.state for e in ledger.history(cap.id)].count(State.PUBLISHED) == 1


def test_find_by_prefix(ledger: Ledger) -> None:
    ledger.create(_capture("abc111"))
    ledger.create(_capture("abc222"))
    assert ledger.find("abc1").id == "abc111"
    with pytest.raises(CaptureNotFound, match="ambiguous"):
        ledger.find("abc")
    with pytest.raises(CaptureNotFound, match="no capture zzz"):
        ledger.find("zzz")


def test_blob_claims_keep_the_first_owner(ledger: Ledger) -> None:
    assert ledger.claim_blob("f" * 64, "one") == "one"
    assert ledger.claim_blob("f" * 64, "two") == "one"


def test_file_fingerprints_are_kept_while_looked_up_and_forgotten_after(redis_url: str) -> None:
    now = [1_000.0 * SEEN_PERIOD_SECONDS]
    client = redis.Redis.from_url(redis_url)
    ledger = Ledger(client=client, namespace="fp-test", clock=lambda: now[0])
    ledger.remember("a.jpg|3|1", "cap-a")
    ledger.remember("b.jpg|3|1", "cap-b")
    assert client.ttl("fp-test:seen:1000") > SEEN_PERIOD_SECONDS  # Redis drops it later
    now[0] += SEEN_PERIOD_SECONDS
    assert ledger.seen("a.jpg|3|1") == "cap-a"  # a rescan still finds a.jpg: carried over
    now[0] += SEEN_PERIOD_SECONDS
    assert ledger.seen("a.jpg|3|1") == "cap-a"
    assert ledger.seen("b.jpg|3|1") is None  # gone from the inbox for two periods
    # The unbounded hash of older releases is read, carried over, and left to expire.
    client.hset("fp-test:seen", "old.jpg|3|1", "cap-old")
    assert ledger.seen("old.jpg|3|1") == "cap-old"
    assert client.hget("fp-test:seen:1002", "old.jpg|3|1") == b"cap-old"
    assert 0 < client.ttl("fp-test:seen") <= 2 * SEEN_PERIOD_SECONDS


def test_the_state_sets_split_every_state_once() -> None:
    assert FINAL | UNFINISHED == set(State) and not FINAL & UNFINISHED
    assert UNQUEUED < UNFINISHED


def test_history_events_say_what_they_record(ledger: Ledger) -> None:
    cap = _capture()
    ledger.create(cap)
    ledger.transition(cap.id, State.PROCESSING, stage="tiles")
    ledger.note(cap.id, "version 1f4b was complete already")
    ledger.note_retry(cap.id, attempt=1, error="StoreError", detail="attempt 1 failed")
    ledger.transition(cap.id, State.FAILED, reason="gave up", error="StoreError")
    events = ledger.history(cap.id)
    assert [(e.kind, e.state, e.stage) for e in events] == [
        ("state", State.RECEIVED, None),
        ("state", State.PROCESSING, "tiles"),
        ("note", State.PROCESSING, "tiles"),
        ("retry", State.PROCESSING, "tiles"),
        ("state", State.FAILED, None),
    ]
    assert (events[3].attempt, events[3].error) == (1, "StoreError")
    assert events[4].error == "StoreError" and events[4].detail == "gave up"
    # An event written before kinds existed reads as a change of state.
    ledger.client.rpush(
        f"{ledger.ns}:history:{cap.id}", '{"at": "2026-01-01T00:00:00Z", "state": "failed"}'
    )
    assert ledger.history(cap.id)[-1].kind == "state"
