"""What only the S3 store has, against a real S3 server (SeaweedFS with identities, on
loopback): multipart uploads, the bucket policy (private unless a site is public),
credential errors, the error table.

The behaviour it shares with the local store is tested in ``test_store.py``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from minio.error import S3Error
from pydantic import SecretStr

from config.errors import StoreError
from config.settings import Settings
from tests.support.seaweed import SeaweedS3
from workers.store.factory import make_store
from workers.store.s3 import S3Store, classify, public_resources


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


#: One object under every prefix the policy decides on, for sites "open" and "closed".
OBJECTS = (
    "scenes/open/hall/v1/tiles/1/f/0/0.jpg",
    "scenes/open/hall/current.json",
    "sites/open/tour.json",
    "sites/open/plans/main/1.png",
    "sites/open/site.json",
    "sites/open/tour/scenes/hall.json",
    "scenes/closed/gym/v1/tiles/1/f/0/0.jpg",
    "sites/closed/tour.json",
    "schemas/scene.schema.json",
    "raw/abc/IMG_0001.jpg",
    "work/abc/source.jpg",
)


def _readable(store: S3Store, seaweed: SeaweedS3) -> set[str]:
    base = f"http://{seaweed.endpoint}/{store.bucket}"
    codes = {key: _anonymous(f"{base}/{key}") for key in OBJECTS}
    assert set(codes.values()) <= {200, 403}, codes
    return {key for key, code in codes.items() if code == 200}


def test_bucket_is_private_until_a_site_opts_in_and_again_after(
    store: S3Store, seaweed: SeaweedS3
) -> None:
    for key in OBJECTS:
        store.put(key, b"data")
    assert _readable(store, seaweed) == set(), "private by default: SeaweedFS refuses anonymous"

    store.apply_public_sites(["open"])
    assert _readable(store, seaweed) == {
        "scenes/open/hall/v1/tiles/1/f/0/0.jpg",
        "scenes/open/hall/current.json",
        "sites/open/tour.json",
        "sites/open/plans/main/1.png",
        "schemas/scene.schema.json",
    }, "only the public site's scenes, tour and plans (and the schemas)"

    store.apply_public_sites(["open", "closed"])
    assert "scenes/closed/gym/v1/tiles/1/f/0/0.jpg" in _readable(store, seaweed)
    store.apply_public_sites(["closed"])  # its statement goes, the other one stays
    readable = _readable(store, seaweed)
    assert "scenes/closed/gym/v1/tiles/1/f/0/0.jpg" in readable
    assert not any(key.startswith(("scenes/open/", "sites/open/")) for key in readable)

    store.apply_public_sites([])
    assert _readable(store, seaweed) == set()
    with pytest.raises(S3Error, match="NoSuchBucketPolicy"):
        store.client.get_bucket_policy(store.bucket)  # deleted, not an empty one
    store.apply_public_sites([])  # deleting what is gone already is fine


def test_policy_has_one_statement_per_public_site(store: S3Store) -> None:
    assert store.policy([]) is None
    policy = store.policy(["b", "a", "a"])
    assert policy is not None
    statements = policy["Statement"]
    assert isinstance(statements, list)
    resources = [s["Resource"] for s in statements]
    bucket = store.bucket
    assert resources == [
        [f"arn:aws:s3:::{bucket}/schemas/*"],
        [f"arn:aws:s3:::{bucket}/{r}" for r in public_resources("a")],
        [f"arn:aws:s3:::{bucket}/{r}" for r in public_resources("b")],
    ]
    assert public_resources("a") == ["scenes/a/*", "sites/a/tour.json", "sites/a/plans/*"]


def test_presigned_url_reads_a_private_original(store: S3Store) -> None:
    store.put("raw/abc/IMG_0001.jpg", b"original")
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
