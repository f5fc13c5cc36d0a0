"""Real headless Chromium (Debian's) driven by Playwright, and the status service on a port.

Nothing is downloaded at run time except what the test machine lacks: Debian's chromium
through apt when /usr/bin/chromium is missing, and the pinned viewers through
``npm ci`` (workers.http.viewer_assets). Either failing fails the tests; they never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Playwright, sync_playwright

from workers.http.viewer_assets import install_viewers
from workers.service.redis_server import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _apt(*args: str) -> None:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    done = subprocess.run(
        [*prefix, "apt-get", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot install Debian's chromium (apt-get {' '.join(args)} exited "
            f"{done.returncode}): {done.stderr.strip()[-600:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.fail(f"{CHROMIUM} is missing and there is no apt-get", pytrace=False)
        _apt("update", "-q")
        _apt("install", "-y", "-q", "chromium")
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} is missing", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def viewer_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned viewers, installed by the same code ``panodock serve`` runs."""
    return install_viewers(tmp_path_factory.mktemp("viewers"))


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    # launch() gives Chromium a fresh temporary user-data-dir (Playwright refuses one in args).
    browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def serve() -> Iterator[Callable[[FastAPI], str]]:
    """Start an app with uvicorn on a free loopback port; returns its base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> str:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(5)
