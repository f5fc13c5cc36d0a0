"""USB mass-storage cameras: any newly mounted volume with a ``DCIM/`` folder.

The desktop (udisks) or an fstab/automount rule mounts the camera's card; the mount shows
up in ``/proc/self/mountinfo`` at once (BRIEF.md). Each scan reads that table, looks for
``<mount point>/DCIM`` on local filesystems, and imports the files under it that the
journal has not seen. Files on the card are never changed or deleted.

A camera pulled mid-copy makes the copy fail; the half copy is dropped, nothing of that
scan is delivered, the source reports that the camera went away, and everything not yet
journaled is copied again when the camera comes back. With no camera mounted the source
is "offline" with the detail "no camera connected" (waiting, not an error).

Files are named ``<volume>/DCIM/...`` where ``<volume>`` is the mount point's last name
(usually the card's label), so the journal recognises a card mounted again elsewhere
under the same label.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

from ingest.sources.base import PolledSource, SourceOffline
from ingest.sources.spool import RemoteFile
from ingest.sources.tree import copy_listed, list_tree

MOUNTINFO: Final = Path("/proc/self/mountinfo")
# Never stat these: pseudo filesystems, and network ones (a dead server hangs the stat).
_SKIPPED_TYPES: Final = frozenset(
    {
        "proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue", "securityfs",
        "debugfs", "tracefs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "binfmt_misc",
        "autofs", "nsfs", "overlay", "squashfs", "nfs", "nfs4", "cifs", "smb3", "smbfs",
        "fuse.sshfs", "9p", "ceph", "glusterfs",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of ``/proc/self/mountinfo``."""

    point: Path
    fstype: str
    device: str  # the mount source, e.g. /dev/sdb1


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse the content of ``/proc/<pid>/mountinfo`` (proc(5)).

    Fields: ``id parent major:minor root point options [optional...] - fstype source
    super-options``; spaces and other bytes in paths are escaped as ``\\ooo`` octal.
    Malformed lines are skipped.
    """
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split()
        try:
            dash = fields.index("-")
        except ValueError:
            continue
        if dash < 6 or len(fields) < dash + 3:
            continue
        mounts.append(
            Mount(
                point=Path(_unescape(fields[4])),
                fstype=fields[dash + 1],
                device=_unescape(fields[dash + 2]),
            )
        )
    return mounts


def _unescape(field: str) -> str:
    raw = field.encode()
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and raw[i + 1 : i + 4].isdigit() and len(raw[i + 1 : i + 4]) == 3:
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def _read_mountinfo() -> str:
    return MOUNTINFO.read_text()


class UsbSource(PolledSource):
    """Import from mounted camera volumes (module docstring).

    Parameters
    ----------
    mount_prefix:
        Only volumes mounted below this folder (e.g. ``/media``); None considers all.
    read_mountinfo:
        Returns the mount table's text; tests may hand in their own.
    kwargs:
        As :class:`PolledSource`.
    """

    kind: ClassVar[str] = "usb"

    def __init__(
        self,
        name: str,
        *,
        mount_prefix: Path | None = None,
        read_mountinfo: Callable[[], str] = _read_mountinfo,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self._prefix = mount_prefix
        self._read_mountinfo = read_mountinfo
        self._volumes: dict[str, Mount] = {}  # volume name -> its mount, as last listed

    def cameras(self) -> list[Mount]:
        """Mounted volumes that look like a camera's card (a ``DCIM`` folder at the top)."""
        found = []
        for mount in parse_mountinfo(self._read_mountinfo()):
            if mount.fstype in _SKIPPED_TYPES or mount.point == Path("/"):
                continue
            if self._prefix is not None and not mount.point.is_relative_to(self._prefix):
                continue
            if (mount.point / "DCIM").is_dir():
                found.append(mount)
        return found

    def _list(self) -> Sequence[RemoteFile]:
        volumes = {m.point.name or m.device: m for m in self.cameras()}
        self._volumes = volumes
        if not volumes:
            raise SourceOffline("no camera connected (no mounted volume with a DCIM folder)")
        files: list[RemoteFile] = []
        for name, mount in volumes.items():
            try:
                files.extend(list_tree(mount.point / "DCIM", prefix=f"{name}/DCIM"))
            except OSError:  # pulled between the table and the listing
                continue
        return files

    def _online_detail(self) -> str:
        return "camera volume(s): " + ", ".join(
            f"{m.point} ({m.device})" for m in self._volumes.values()
        )

    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        name, _, rest = remote.path.partition("/")
        mount = self._volumes.get(name)
        if mount is None:
            raise SourceOffline(f"camera volume {name} is no longer mounted")
        return copy_listed(mount.point / rest, remote, dest)
