"""What every object store does, run against the local directory and a real S3 server.

The ``store`` fixture is the factory's store for the settings (:func:`make_store`): the
local directory, and S3 on the session's SeaweedFS (identities on, a fresh bucket per test).
What only one backend has is tested in ``test_local.py`` and ``test_s3.py``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from config.errors import ObjectNotFound, PreconditionFailed
from config.settings import load_settings
from tests.conftest import s3_settings_for
from workers.store.base import ObjectStore, content_type_for
from workers.store.conditional import update_object
from workers.store.factory import make_store
from workers.store.local import LocalStore
from workers.store.s3 import S3Store

_buckets = itertools.count(1)

TILE = "scenes/s/a/1/tiles/1/f/0/0.jpg"
CURRENT = "scenes/s/a/current.json"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    settings = load_settings(data_dir=tmp_path / "data")
    if request.param == "s3":
        server = request.getfixturevalue("seaweed")
        bucket = f"panodock-store-{next(_buckets)}"
        settings = s3_settings_for(settings, server, bucket=bucket)
    built = make_store(settings)
    assert isinstance(built, {"local": LocalStore, "s3": S3Store}[request.param])
    built.bootstrap()
    return built


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(n)`` for n in range(count), all released at once."""
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        barrier.wait()
        work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_put_get_head_exists_list_and_delete(store: ObjectStore) -> None:
    before = time.time()
    etag = store.put(TILE, b"tile", content_type="image/jpeg")
    store.put(CURRENT, b"{}", content_type="application/json")
    store.put("scenes/s/b/current.json", b"{}")  # a sibling prefix: not listed under s/a/

    assert store.get(TILE) == b"tile"
    assert store.exists(TILE) and not store.exists("scenes/s/a/1/tiles/1/f/0/1.jpg")
    info = store.head(TILE)
    assert info is not None and (info.key, info.size, info.etag) == (TILE, 4, etag)
    assert list(store.list("scenes/s/a/")) == [TILE, CURRENT]
    infos = list(store.list_info("scenes/s/a/"))
    assert [(i.key, i.size) for i in infos] == [(TILE, 4), (CURRENT, 2)]
    assert infos[0].etag == etag
    assert all(i.modified is not None and i.modified >= before - 5 for i in infos)

    store.delete(CURRENT)
    store.delete(CURRENT)  # deleting a missing object is not an error
    assert store.head(CURRENT) is None and not store.exists(CURRENT)
    assert list(store.list("scenes/s/a/")) == [TILE]


def test_a_missing_key_raises_object_not_found_naming_it(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match="scenes/s/a/current.json"):
        store.get(CURRENT)
    assert store.head(CURRENT) is None
    assert list(store.list("scenes/")) == []


def test_overwrite_names_with_spaces_and_put_file(store: ObjectStore, tmp_path: Path) -> None:
    first = store.put("raw/abc/IMG 1.jpg", b"first")
    second = store.put("raw/abc/IMG 1.jpg", b"second")
    assert first != second and store.get("raw/abc/IMG 1.jpg") == b"second"
    source = tmp_path / "IMG_0002.jpg"
    source.write_bytes(b"x" * 70_000)
    etag = store.put_file("raw/abc/IMG_0002.jpg", source, content_type="image/jpeg")
    assert store.get("raw/abc/IMG_0002.jpg") == source.read_bytes()
    assert store.head("raw/abc/IMG_0002.jpg").etag == etag  # type: ignore[union-attr]


def test_conditional_writes(store: ObjectStore) -> None:
    first = store.put(CURRENT, b"1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put(CURRENT, b"2", if_none_match=True)  # it exists now
    second = store.put(CURRENT, b"2", if_match=first)
    with pytest.raises(PreconditionFailed):
        store.put(CURRENT, b"3", if_match=first)  # a stale ETag
    with pytest.raises(PreconditionFailed):
        store.put("scenes/s/a/nothing.json", b"x", if_match=first)  # no object to match
    assert store.get(CURRENT) == b"2"
    assert store.head(CURRENT).etag == second  # type: ignore[union-attr]


def test_racing_conditional_writers_have_one_winner(store: ObjectStore) -> None:
    base = store.put(CURRENT, b"base")  # distinct from every writer's content
    wins: list[int] = []

    def writer(n: int) -> None:
        try:
            store.put(CURRENT, f"v{n}".encode(), if_match=base)
            wins.append(n)
        except PreconditionFailed:
            pass

    _in_threads(6, writer)
    assert len(wins) == 1
    assert store.get(CURRENT) == f"v{wins[0]}".encode()


def test_update_object_creates_changes_and_leaves_alone(store: ObjectStore) -> None:
    seen: list[bytes | None] = []

    def add(value: int) -> Callable[[bytes | None], bytes]:
        def change(current: bytes | None) -> bytes:
            seen.append(current)
            return json.dumps([*json.loads(current or b"[]"), value]).encode()

        return change

    assert update_object(store, CURRENT, add(1)) == b"[1]"
    assert seen == [None]  # it did not exist: the change saw nothing
    assert update_object(store, CURRENT, add(2)) == b"[1, 2]"
    assert update_object(store, CURRENT, lambda current: None) == b"[1, 2]"  # no change
    assert store.get(CURRENT) == b"[1, 2]"


def test_concurrent_updates_are_all_kept(store: ObjectStore) -> None:
    def append(n: int) -> None:
        update_object(
            store, CURRENT, lambda current: json.dumps([*json.loads(current or b"[]"), n]).encode()
        )

    _in_threads(6, append)
    assert sorted(json.loads(store.get(CURRENT))) == list(range(6))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("scenes/s/a/1/thumb.jpg", "image/jpeg"),
        ("scenes/s/a/1/scene.json", "application/json"),
        ("sites/s/plans/2.png", "image/png"),
    ],
)
def test_a_presigned_url_serves_the_object_as_viewers_expect(
    store: ObjectStore, key: str, expected: str
) -> None:
    assert content_type_for(key) == expected
    store.put(key, b"content of " + key.encode(), content_type=content_type_for(key))
    with urllib.request.urlopen(store.presigned_get(key, expires_seconds=60), timeout=5) as r:  # noqa: S310 - loopback or file://
        assert r.read() == b"content of " + key.encode()
        assert r.headers["Content-Type"] == expected
