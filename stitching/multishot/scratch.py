"""Scratch buffers that grow and are kept, so a banded stitch allocates nothing per band.

Large blocks that are allocated and freed again and again are mapped from the kernel and
zeroed each time: with cv2 allocating its outputs per call, page faults and zeroing were
a fifth of a 20 MP stitch's CPU (issue 16). Callers ask for a named buffer of a shape and
get a view of a block that only grows (with some headroom, as pieces differ in size).

Blocks come from :func:`empty`, an anonymous memory map, not ``np.empty``: numpy asks the
kernel for transparent huge pages on every large array, and with the usual THP setting
(``defrag=madvise``) each such first touch compacts memory synchronously; measured on the
12 x 20 MP set that was 2.1 s of kernel time in the blend against 0.85 s with 4 KB pages
(kernel share of the stitch 17.5 % -> 10 %).
"""

from __future__ import annotations

import mmap

import numpy as np


def empty(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """A C-contiguous array of ``shape`` in fresh zeroed pages, faulted in as touched and
    without the huge-page request numpy makes (see the module docstring); freed with the
    array."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if n * dt.itemsize < 1 << 20:
        return np.empty(shape, dtype=dt)
    # Private: a shared map would be shmem, outside RLIMIT_DATA and any cap built on it.
    block = mmap.mmap(-1, n * dt.itemsize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(block, dtype=dt, count=n).reshape(shape)


GROWTH = 1.1  # a block grows to this much more than asked, so a slightly larger piece fits


class Scratch:
    """Named, growing buffers; a view handed out is valid until its name is asked for
    again."""

    def __init__(self) -> None:
        self._blocks: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` (contents undefined)."""
        key = f"{name}:{np.dtype(dtype).str}"
        n = int(np.prod(shape))
        block = self._blocks.get(key)
        if block is None or block.size < n:
            block = empty((int(n * GROWTH) + 1,), dtype)
            self._blocks[key] = block
        return block[:n].reshape(shape)
