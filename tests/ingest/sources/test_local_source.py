"""The local source is the inbox watcher (its overflow and rescan tests are in
tests/ingest/test_watcher.py); here: what it adds, the site, the origin and health."""

from __future__ import annotations

from pathlib import Path

from config.settings import SourceConfig
from ingest.sources.factory import build_sources
from ingest.sources.local import LocalSource
from ingest.sources.ptp import PtpSource
from ingest.sources.share import ShareSource
from ingest.sources.usb import UsbSource
from tests.support.sources import Intake
from tests.support.waiting import wait_for


def test_a_closed_file_is_delivered_with_the_sources_site(tmp_path: Path, intake: Intake) -> None:
    source = LocalSource("desk", tmp_path / "in", deliver=intake, site="campus", settle_seconds=0.3)
    source.start()
    try:
        (tmp_path / "in" / "pano.jpg").write_bytes(b"pano")
        wait_for(lambda: intake.queued, timeout=10, what="the capture queued")
        # The watcher counts a delivery after the intake returns: wait for the count too.
        wait_for(lambda: source.health().files_imported == 1, timeout=10, what="the count")
        health = source.health()
    finally:
        source.stop()
    capture = intake.harness.app.ledger.get(intake.queued[0])
    assert capture.site == "campus" and capture.source.startswith("local desk:")
    assert health.online and health.files_imported == 1 and "watching" in health.detail
    assert not source.health().online


def test_sources_are_built_from_their_config(tmp_path: Path, intake: Intake) -> None:
    configs = [
        SourceConfig(name="desk", kind="local", path=tmp_path / "in"),
        SourceConfig(name="nas", kind="share", path=tmp_path / "nas", site="annex"),
        SourceConfig(name="cards", kind="usb"),
        SourceConfig(name="theta", kind="ptp", port="usb:"),
    ]
    built = build_sources(configs, deliver=intake, spool_root=tmp_path / "spool", default_site="d")
    assert [type(s) for s in built] == [LocalSource, ShareSource, UsbSource, PtpSource]
    assert [s.site for s in built] == ["d", "annex", "d", "d"]
    assert all(s.health().name == c.name for s, c in zip(built, configs, strict=True))
