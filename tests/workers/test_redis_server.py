from __future__ import annotations

from pathlib import Path

import pytest
import redis

from config.errors import InfrastructureError
from workers.service.redis_server import RedisServer


def test_private_redis_from_a_relative_data_dir_persists_and_refuses_a_second_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = RedisServer(Path("panodock-data"))  # the default data dir is relative
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("ledger", "kept")
        with pytest.raises(InfrastructureError, match="already running"):
            RedisServer(Path("panodock-data")).start()
    finally:
        server.stop()
    assert not (tmp_path / "panodock-data" / "redis.sock").exists()
    again = RedisServer(Path("panodock-data"))
    again.start()
    try:
        assert redis.Redis.from_url(again.url).get("ledger") == b"kept"
    finally:
        again.stop()


def test_a_socket_left_by_a_crash_does_not_block_the_start(tmp_path: Path) -> None:
    crashed = RedisServer(tmp_path)
    crashed.start()
    crashed.kill()  # SIGKILL leaves the socket file behind
    assert crashed.socket_path.exists()
    server = RedisServer(tmp_path)
    server.start()
    server.stop()
