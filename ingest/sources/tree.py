"""Reading a mounted folder tree (a share, a camera's card) as a source's files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ingest.candidates import is_ignored_name
from ingest.sources.spool import RemoteFile, copy_file


def list_tree(root: Path, *, prefix: str = "") -> list[RemoteFile]:
    """Every regular file below ``root``, as paths relative to it (behind ``prefix``).

    Hidden and partial-download names are skipped at every depth and symlinks are never
    followed (the inbox rules of :mod:`ingest.candidates`). Raises OSError when ``root`` itself
    cannot be listed; a sub-folder that vanishes meanwhile is skipped.
    """
    found: list[RemoteFile] = []
    pending: list[tuple[Path, str]] = [(root, prefix)]
    first = True
    while pending:
        folder, rel = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            if first:
                raise
            continue
        first = False
        for entry in entries:
            if is_ignored_name(entry.name):
                continue
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                pending.append((Path(entry.path), path))
            elif stat.S_ISREG(st.st_mode):
                found.append(RemoteFile(path, st.st_size, st.st_mtime_ns))
    return sorted(found, key=lambda f: f.path)


def copy_listed(source: Path, remote: RemoteFile, dest: Path) -> str:
    """Copy one listed file; return the sha256 read. Raises if it changed since listed."""
    sha = copy_file(source, dest)
    st = source.stat()
    if (st.st_size, st.st_mtime_ns) != (remote.size, remote.mtime_ns):
        raise ValueError(
            f"{remote.path} changed while it was copied; it is copied again at the next scan"
        )
    return sha
