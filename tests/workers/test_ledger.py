from __future__ import annotations

import threading

import pytest
import redis

from workers.ledger import Capture, CaptureNotFound, Ledger, RawFile, State


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
