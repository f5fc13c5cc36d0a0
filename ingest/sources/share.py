"""A network share (SMB/NFS mount point), read by polling.

inotify sees nothing of what other machines write to a share, and watchdog's polling
observer reports half-written files as created and an unmounted share as every file deleted
(BRIEF.md). So this source polls and trusts only what it measured itself:

- A file directly in the share's root is a single-file capture; it is complete once its
  size and mtime have stayed the same for ``stable_seconds``, measured by our clock (a
  file server's clock is not ours).
- A sub-folder is one or more captures. Its files are all complete once the folder's
  ``capture.json`` exists and is unchanged since the previous scan (the capture app writes
  it last), or else once every file in the folder has been stable for ``stable_seconds``;
  the files are then grouped (:mod:`.grouping`: by sidecar, else by camera sequence and
  time gap).
- Nothing is ever concluded from a file being absent. A share that cannot be listed, or that
  is no longer a mount point (``require_mount``; an unmounted share shows the empty folder
  beneath it), is reported offline and its files are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from config.errors import ConfigError
from ingest.sidecar import SIDECAR_NAME
from ingest.sources.base import PolledSource, SourceOffline
from ingest.sources.grouping import Group, GroupFile, group_files
from ingest.sources.spool import RemoteFile
from ingest.sources.tree import copy_listed, list_tree


class ShareSource(PolledSource):
    """Poll a mounted share (module docstring); other parameters as :class:`PolledSource`.

    Parameters
    ----------
    path:
        The share's mount point (or a folder in it).
    stable_seconds:
        How long a file's size and mtime must stay unchanged before it is taken.
    require_mount:
        Report the share offline unless ``path`` is a mount point.
    """

    kind: ClassVar[str] = "share"

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        stable_seconds: float = 5.0,
        require_mount: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        if stable_seconds < 0:
            raise ConfigError(f"share {name}: stable_seconds must be >= 0, got {stable_seconds}")
        self.path = Path(path)
        self._stable = stable_seconds
        self._require_mount = require_mount
        # path -> ((size, mtime_ns), clock() when first seen so)
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}

    def _list(self) -> Sequence[RemoteFile]:
        if self._require_mount and not os.path.ismount(self.path):
            raise SourceOffline(
                f"share {self.path} is not mounted; mount it (or fix the source's path) — "
                f"its files are left alone until then"
            )
        try:
            return list_tree(self.path)
        except OSError as exc:
            raise SourceOffline(
                f"share {self.path} cannot be read ({exc.strerror or exc}); is it mounted "
                f"and readable by panodock?"
            ) from exc

    def _online_detail(self) -> str:
        return f"polling {self.path} (files taken after {self._stable:g} s unchanged)"

    def _complete(self, files: Sequence[RemoteFile]) -> list[RemoteFile]:
        now = self._clock()
        stable: dict[str, bool] = {}
        sidecar_ready: set[str] = set()
        seen: dict[str, tuple[tuple[int, int], float]] = {}
        for f in files:
            key = (f.size, f.mtime_ns)
            before = self._seen.get(f.path)
            since = before[1] if before is not None and before[0] == key else now
            seen[f.path] = (key, since)
            stable[f.path] = now - since >= self._stable
            parts = PurePosixPath(f.path).parts
            if len(parts) == 2 and parts[1] == SIDECAR_NAME and before is not None and since < now:
                sidecar_ready.add(parts[0])
        self._seen = seen  # a file gone from the listing is forgotten, never "deleted"
        by_folder: dict[str, list[RemoteFile]] = {}
        complete: list[RemoteFile] = []
        for f in files:
            parts = PurePosixPath(f.path).parts
            if len(parts) == 1:
                if stable[f.path]:
                    complete.append(f)
            else:
                by_folder.setdefault(parts[0], []).append(f)
        for folder, members in by_folder.items():
            if folder in sidecar_ready or all(stable[f.path] for f in members):
                complete.extend(members)
        return complete

    def _plan(self, files: Sequence[GroupFile]) -> list[Group]:
        root_files = [f for f in files if len(PurePosixPath(f.path).parts) == 1]
        singles = [
            Group(f.path, (f.path,), (f.path,), False, "single file in the share's root")
            for f in root_files
        ]
        rest = [f for f in files if len(PurePosixPath(f.path).parts) > 1]
        return singles + group_files(rest, gap_seconds=self._gap)

    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        return copy_listed(self.path / remote.path, remote, dest)
