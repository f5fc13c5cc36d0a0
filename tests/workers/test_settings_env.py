from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.settings import load_settings, settings_env


def test_child_processes_rebuild_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = load_settings(
        data_dir=tmp_path,
        workers=3,
        tile_size=512,
        s3_endpoint="127.0.0.1:9000",
        s3_access_key="ak",
        s3_secret_key=SecretStr("sk"),
        s3_secure=False,
        stage_time_limits={"tiles": 12.5},
        settle_seconds=0.25,
    )
    for name in list(os.environ):
        if name.startswith("PANODOCK_"):
            monkeypatch.delenv(name)
    for name, value in settings_env(parent).items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    assert child.model_dump() == parent.model_dump()
    assert child.s3_secret_key is not None and child.s3_secret_key.get_secret_value() == "sk"
