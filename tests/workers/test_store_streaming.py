"""Originals go in and out of every store as files, streamed, never as one bytes object.

Run against the local directory and a real S3 server (SeaweedFS), as tests/store does.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import pytest

from config.errors import ObjectNotFound
from config.settings import load_settings
from tests.conftest import s3_settings_for
from workers.store.base import ObjectStore
from workers.store.factory import make_store

_buckets = itertools.count(1)
KEY = "raw/0123/pano.jpg"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    settings = load_settings(data_dir=tmp_path / "data")
    if request.param == "s3":
        server = request.getfixturevalue("seaweed")
        settings = s3_settings_for(settings, server, bucket=f"panodock-stream-{next(_buckets)}")
    built = make_store(settings)
    built.bootstrap()
    return built


def test_a_file_put_streamed_comes_back_whole_by_get_file_and_get_head(
    store: ObjectStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks and a partial one
    source = tmp_path / "pano.jpg"
    source.write_bytes(data)
    etag = store.put_file(KEY, source, content_type="image/jpeg")
    info = store.head(KEY)
    assert info is not None and info.size == len(data)
    if "-" not in info.etag:  # a multipart upload's ETag is not the MD5
        assert etag.strip('"') == info.etag == hashlib.md5(data).hexdigest()
    copy = tmp_path / "copy"
    assert store.get_file(KEY, copy) == len(data)
    assert copy.read_bytes() == data
    assert store.get_head(KEY, 4096) == data[:4096]
    assert store.get_head(KEY, len(data) + 100) == data


def test_get_file_and_get_head_of_a_missing_object_raise_object_not_found(
    store: ObjectStore, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFound):
        store.get_file("raw/none/x.jpg", tmp_path / "x")
    with pytest.raises(ObjectNotFound):
        store.get_head("raw/none/x.jpg", 10)
