from __future__ import annotations

import threading
from pathlib import Path

import pytest

from config.errors import ObjectNotFound, PreconditionFailed, StoreError
from workers.store.local import LocalStore


def test_put_get_head_list_delete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    etag = store.put("scenes/a/b/1/tiles/1/f/0/0.jpg", b"tile")
    store.put("scenes/a/b/current.json", b"{}")
    assert store.get("scenes/a/b/1/tiles/1/f/0/0.jpg") == b"tile"
    info = store.head("scenes/a/b/1/tiles/1/f/0/0.jpg")
    assert info is not None and info.size == 4 and info.etag == etag
    assert list(store.list("scenes/a/b/")) == [
        "scenes/a/b/1/tiles/1/f/0/0.jpg",
        "scenes/a/b/current.json",
    ]
    store.delete("scenes/a/b/current.json")
    assert store.head("scenes/a/b/current.json") is None
    with pytest.raises(ObjectNotFound, match="scenes/a/b/current.json"):
        store.get("scenes/a/b/current.json")


def test_layout_on_disk_is_the_bucket_layout(tmp_path: Path) -> None:
    LocalStore(tmp_path).put("raw/abc/IMG 1.jpg", b"x")
    assert (tmp_path / "raw" / "abc" / "IMG 1.jpg").read_bytes() == b"x"
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", ".locks/x"])
def test_rejects_keys_that_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put(key, b"x")


def test_conditional_writes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = store.put("p.json", b"1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put("p.json", b"2", if_none_match=True)
    second = store.put("p.json", b"2", if_match=first)
    with pytest.raises(PreconditionFailed):
        store.put("p.json", b"3", if_match=first)  # stale ETag
    assert store.get("p.json") == b"2" and store.head("p.json").etag == second  # type: ignore[union-attr]


def test_racing_conditional_writers_have_one_winner_per_round(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    base = store.put("p.json", b"base")  # distinct from every writer: ETags hash content
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            store.put("p.json", str(n).encode(), if_match=base)
            wins.append(n)
        except PreconditionFailed:
            pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.get("p.json") == str(wins[0]).encode()


def test_injected_faults_are_transient(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.inject_faults(2)
    for _ in range(2):
        with pytest.raises(StoreError, match="injected"):
            store.put("k", b"v")
    store.put("k", b"v")
    assert store.get("k") == b"v"
