"""What only the S3 store has, against a real S3 server (SeaweedFS with identities, on
loopback): multipart uploads, the bucket policy, credential errors, the error table.

The behaviour it shares with the local store is tested in ``test_store.py``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.errors import StoreError
from config.settings import Settings
from tests.support.seaweed import SeaweedS3
from workers.store.factory import make_store
from workers.store.s3 import S3Store, classify


@pytest.fixture
def store(s3_settings: Settings) -> S3Store:
    s = make_store(s3_settings)
    assert isinstance(s, S3Store)
    s.bootstrap()
    return s


def _anonymous(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_large_original_goes_up_in_parts_and_comes_back_whole(
    store: S3Store, tmp_path: Path
) -> None:
    big = tmp_path / "IMG_0001.jpg"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    etag = store.put_file("raw/abc/IMG_0001.jpg", big)
    assert "-" in etag, f"multipart ETag expected, got {etag}"
    assert store.get("raw/abc/IMG_0001.jpg") == big.read_bytes()


def test_policy_public_scenes_private_raw_and_presigned_originals(
    store: S3Store, seaweed: SeaweedS3
) -> None:
    store.put("scenes/s/a/1/thumb.jpg", b"thumb")
    store.put("sites/s/tour.json", b"{}")
    store.put("raw/abc/IMG_0001.jpg", b"original")
    base = f"http://{seaweed.endpoint}/{store.bucket}"
    assert _anonymous(f"{base}/scenes/s/a/1/thumb.jpg") == 200
    assert _anonymous(f"{base}/sites/s/tour.json") == 200
    assert _anonymous(f"{base}/raw/abc/IMG_0001.jpg") == 403
    with urllib.request.urlopen(store.presigned_get("raw/abc/IMG_0001.jpg"), timeout=5) as r:  # noqa: S310
        assert r.read() == b"original"


def test_a_wrong_secret_fails_with_a_clear_message(s3_settings: Settings) -> None:
    bad = make_store(s3_settings.model_copy(update={"s3_secret_key": SecretStr("not-it")}))
    with pytest.raises(StoreError) as caught:
        bad.bootstrap()
    message = str(caught.value)
    assert "PANODOCK_S3_SECRET_KEY" in message and "SignatureDoesNotMatch" in message
    assert "not-it" not in message


def test_error_table() -> None:
    from minio.error import S3Error

    def err(code: str) -> S3Error:
        return S3Error(None, code, "m", "r", "q", "h")  # type: ignore[arg-type]

    assert classify(err("SlowDown")) == "retry"
    assert classify(err("NoSuchKey")) == "missing"
    assert classify(err("SignatureDoesNotMatch")) == "credentials"
    assert classify(err("SomethingNew")) == "fatal"
    assert classify(ConnectionRefusedError()) == "retry"
