"""Two ``panodock serve`` processes on one Redis: a revoked or expired share stops on both."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from config.settings import Settings
from tests.http.conftest import ADMIN_TOKEN, OBJECTS
from workers.service.redis_server import free_port
from workers.store.factory import make_store

GYM_TILE = "scenes/school/gym/v1/tiles/1/f/0/0.jpg"


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=5
        ) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


def _until(check, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"{what} after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_revocation_and_expiry_cut_access_on_both_processes(
    settings: Settings, tmp_path: Path
) -> None:
    store = make_store(settings)
    for key, body in OBJECTS.items():
        store.put(key, body)
    env = {
        "PANODOCK_DATA_DIR": str(settings.data_dir), "PANODOCK_REDIS_URL": settings.redis_url or "",
        "PANODOCK_SERVE_TOKEN": ADMIN_TOKEN, "PATH": str(tmp_path),  # no npm: no viewer install
        "PANODOCK_LOG_LEVEL": "INFO",
    }  # fmt: skip
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "serve"],
            env={**env, "PANODOCK_SERVE_PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for port in ports
    ]
    cli = [sys.executable, "-m", "workers.cli.main"]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            _until(lambda b=base: _status(b + "/healthz") == 200, 30, "serve did not answer")
        made = json.loads(subprocess.run(
            [*cli, "share", "create", "school", "--expires", "12s", "--label", "County 911",
             "--json"], env=env, capture_output=True, text=True, check=True).stdout)  # fmt: skip
        kept = json.loads(subprocess.run(
            [*cli, "share", "create", "school", "--expires", "1d", "--label", "Fire", "--json"],
            env=env, capture_output=True, text=True, check=True).stdout)  # fmt: skip
        assert set(made) == {"id", "url", "token", "site", "expires_at"}
        short = [f"{b}/s/{made['token']}/objects/{GYM_TILE}" for b in bases]
        long = [f"{b}/s/{kept['token']}/objects/{GYM_TILE}" for b in bases]
        assert [_status(u) for u in short + long] == [200] * 4
        assert _status(bases[0] + f"/objects/{GYM_TILE}") == 401
        # Expiry: within 5 s of expires_at on both.
        for url in short:
            _until(lambda u=url: _status(u) == 404, 12 + 5, "expired share still served")
        subprocess.run([*cli, "share", "revoke", kept["id"]], env=env, check=True,
                       capture_output=True)  # fmt: skip
        for url in long:
            took = _until(lambda u=url: _status(u) == 404, 5, "revoked share still served")
            assert took < 5
    finally:
        for proc in procs:
            proc.terminate()
        errs = [proc.communicate(timeout=20)[0] for proc in procs]  # stdout + stderr
    logged = "\n".join(errs)
    assert "/s/<redacted>/objects/" in logged  # uvicorn's access log ran, redacted
    for secret in (made["token"], kept["token"], ADMIN_TOKEN):
        assert secret not in logged
