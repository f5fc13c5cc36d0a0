"""Shared fixtures: a real redis-server on a free port, settings, sample panoramas.

The Redis is the same launcher ``panodock run`` uses; it is started once per session
and flushed before each test. If it cannot start, the tests fail: in CI a missing service
is a failure, never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from pydantic import SecretStr

from config.settings import Settings, load_settings
from tests.support.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3
from workers.service.redis_server import RedisServer, free_port
from workers.sites.tour_index import close_indexers

DATA = Path(__file__).parent / "data"
SAMPLE_PANO = DATA / "pannellum_examplepano.jpg"


@pytest.fixture(autouse=True)
def _indexers_closed_after_each_test() -> Iterator[None]:
    """A test's stores go with it; the publish stage's indexer threads go too."""
    yield
    close_indexers()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    """Settings for one test: its own data dir, the session Redis, fast timings."""
    return load_settings(
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        settle_seconds=0.3,
        rescan_seconds=0.5,
        heartbeat_seconds=3.0,
        max_retries=2,
        shutdown_timeout_seconds=20.0,
        blur="off",  # tests/workers/test_privacy_e2e.py runs the pipeline with it required
    )


@pytest.fixture(scope="session")
def pano() -> np.ndarray:
    """The real 4096x2048 sample equirect (Pannellum's example), uint8 BGR."""
    img = cv2.imread(str(SAMPLE_PANO), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (2048, 4096, 3), f"cannot read {SAMPLE_PANO}"
    return img


def jpeg_bytes(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def small_pano_jpeg(pano: np.ndarray) -> bytes:
    """The sample panorama at 1024x512 as JPEG bytes (fast pipeline runs)."""
    return jpeg_bytes(cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS) for the session; tests use their own buckets."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


_buckets = iter(range(1, 10_000))


def s3_settings_for(settings: Settings, server: SeaweedS3, *, bucket: str) -> Settings:
    """``settings`` publishing to ``bucket`` on ``server``."""
    return settings.model_copy(
        update={
            "s3_endpoint": server.endpoint,
            "s3_bucket": bucket,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SecretStr(SECRET_KEY),
            "s3_secure": False,
        }
    )


@pytest.fixture
def s3_settings(settings: Settings, seaweed: SeaweedS3) -> Settings:
    """``settings`` publishing to a fresh bucket on the session's S3 server."""
    return s3_settings_for(settings, seaweed, bucket=f"panodock-test-{next(_buckets)}")
