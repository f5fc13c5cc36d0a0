"""What only the local-directory store has: the bucket layout on disk, key checks, faults.

The behaviour it shares with S3 is tested in ``test_store.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ObjectNotFound, StoreError
from workers.store.local import LocalStore


def test_layout_on_disk_is_the_bucket_layout(tmp_path: Path) -> None:
    LocalStore(tmp_path).put("raw/abc/IMG 1.jpg", b"x")
    assert (tmp_path / "raw" / "abc" / "IMG 1.jpg").read_bytes() == b"x"
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", ".locks/x"])
def test_rejects_keys_that_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put(key, b"x")


def test_locks_of_conditional_writes_are_not_listed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("p.json", b"1", if_none_match=True)
    assert (tmp_path / ".locks").is_dir()
    assert list(store.list("")) == ["p.json"]


def test_a_presigned_url_of_a_missing_object_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match="raw/abc/IMG.jpg"):
        LocalStore(tmp_path).presigned_get("raw/abc/IMG.jpg")


def test_injected_faults_are_transient(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.inject_faults(2)
    for _ in range(2):
        with pytest.raises(StoreError, match="injected"):
            store.put("k", b"v")
    store.put("k", b"v")
    assert store.get("k") == b"v"
