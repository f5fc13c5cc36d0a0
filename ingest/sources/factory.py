"""Build the configured sources (``Settings.sources``) with their collaborators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.settings import SourceConfig
from ingest.sources.base import Deliver, Source
from ingest.sources.local import LocalSource
from ingest.sources.osc import OscSource
from ingest.sources.ptp import Archived, PtpSource
from ingest.sources.share import ShareSource
from ingest.sources.usb import UsbSource


def build_sources(
    configs: Sequence[SourceConfig],
    *,
    deliver: Deliver,
    spool_root: Path,
    default_site: str,
    settle_seconds: float = 2.0,
    rescan_seconds: float = 30.0,
    archived: Archived | None = None,
    accepting: Callable[[], bool] | None = None,
) -> list[Source]:
    """One source per config, not started.

    Parameters
    ----------
    configs:
        The configured sources.
    deliver:
        The intake callback every source hands its captures to.
    spool_root:
        panodock's spool folder; each polled source uses a sub-folder named after it.
    default_site:
        Site of a source that names none.
    settle_seconds, rescan_seconds:
        The inbox watcher's timings, used by local sources.
    archived:
        ``archived(sha256, size)`` checks the archive; needed by cameras that delete.
    accepting:
        False while intake is paused (a full disk): no source copies or delivers anything
        then; None = always.

    Raises
    ------
    ConfigError
        A config is inconsistent (e.g. deletion without an archive check).
    """
    sources: list[Source] = []
    for c in configs:
        site = c.site or default_site
        if c.kind == "local":
            assert c.path is not None  # SourceConfig validates it
            sources.append(
                LocalSource(
                    c.name,
                    c.path,
                    deliver=deliver,
                    site=site,
                    settle_seconds=settle_seconds,
                    rescan_seconds=rescan_seconds,
                    accepting=accepting,
                )
            )
            continue
        common: dict[str, Any] = {
            "deliver": deliver,
            "spool_root": spool_root,
            "site": site,
            "poll_seconds": c.poll_seconds,
            "group_gap_seconds": c.group_gap_seconds,
            "accepting": accepting,
        }
        if c.kind == "share":
            assert c.path is not None
            sources.append(
                ShareSource(
                    c.name,
                    c.path,
                    stable_seconds=c.stable_seconds,
                    require_mount=c.require_mount,
                    **common,
                )
            )
        elif c.kind == "usb":
            sources.append(UsbSource(c.name, mount_prefix=c.path, **common))
        elif c.kind == "ptp":
            sources.append(
                PtpSource(
                    c.name,
                    port=c.port,
                    model=c.model,
                    delete_after_import=c.delete_after_import,
                    archived=archived,
                    **common,
                )
            )
        elif c.kind == "osc":
            assert c.url is not None  # SourceConfig validates it
            sources.append(
                OscSource(
                    c.name,
                    url=c.url,
                    username=c.username,
                    password=c.password,
                    delete_after_import=c.delete_after_import,
                    archived=archived,
                    **common,
                )
            )
        else:  # pragma: no cover - Literal keeps this unreachable
            raise ConfigError(f"source {c.name}: unknown kind {c.kind}")
    return sources
