"""Reading inbox files with bounded memory: chunked hashing and the per-file size limit.

A file is never read whole by the watcher, the intake or a source: it is hashed in
:data:`CHUNK_BYTES` reads and archived with a streaming upload, so a 2 GB file costs a
1 MiB buffer, not 2 GB of memory. A file larger than the configured limit is refused by
its ``stat`` size before a byte of it is read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

CHUNK_BYTES: Final = 1024 * 1024
#: The default of ``PANODOCK_MAX_FILE_BYTES`` (see config.settings for why this size).
DEFAULT_MAX_FILE_BYTES: Final = 512 * 1024 * 1024


def hash_file(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and the size of the bytes read from ``path``, in 1 MiB reads.

    Raises
    ------
    OSError
        The file cannot be read to its end.
    """
    digest = hashlib.sha256()
    size = 0
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def describe_size(size: int) -> str:
    """``536870912`` -> ``"512.0 MiB (536,870,912 bytes)"``: readable, and exact."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{size:,} bytes"
    return f"{value:.1f} {units[unit]} ({size:,} bytes)"


def too_large_reason(name: str, size: int, limit: int) -> str:
    """The quarantine reason for a file refused by its size (it was neither read nor archived)."""
    return (
        f"{name} is {describe_size(size)}, above the per-file limit of {describe_size(limit)} "
        "(PANODOCK_MAX_FILE_BYTES); it was not read and its original is NOT archived: it is "
        "left in the inbox. Check it is a panorama (not a video or a disk image); if it is, raise "
        "the limit and restart the watcher: it is taken then"
    )
