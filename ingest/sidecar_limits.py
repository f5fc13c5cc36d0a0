"""What a sidecar must meet before it is parsed: a size and a nesting depth.

A real ``capture.json`` is a few kilobytes nested three levels deep. Anything far beyond
that is refused with a reason before the JSON parser sees it: Python's parser recurses
once per level (10,000 levels raise ``RecursionError``), and a large file costs memory
and time for nothing.
"""

from __future__ import annotations

import re
from typing import Final

from config.errors import QuarantineError

#: Larger sidecars are refused unread (a real one is a few kilobytes).
MAX_SIDECAR_BYTES: Final = 1024 * 1024
#: Objects and lists nested deeper are refused before parsing (a real one needs 3).
MAX_SIDECAR_DEPTH: Final = 64

# A JSON string, escapes included: brackets inside one do not nest anything.
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS: Final = re.compile(rb"[\[\]{}]")


def check_limits(data: bytes, name: str) -> None:
    """Refuse sidecar bytes above the size or the depth limit.

    Raises
    ------
    QuarantineError
        The message names the file, the limit and what was found.
    """
    if len(data) > MAX_SIDECAR_BYTES:
        raise sidecar_too_large(name, len(data))
    depth = nesting_depth(data)
    if depth > MAX_SIDECAR_DEPTH:
        raise QuarantineError(
            f"{name} nests objects or lists deeper than {MAX_SIDECAR_DEPTH} levels (at least "
            f"{depth}); a capture sidecar needs a few: check what wrote it"
        )


def nesting_depth(text: bytes) -> int:
    """The deepest nesting of objects and lists in JSON text, without parsing it."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b'""', text)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def sidecar_too_large(name: str, size: int) -> QuarantineError:
    """The error for a sidecar refused by its size (it is not read)."""
    return QuarantineError(
        f"{name} is {size:,} bytes, above the sidecar limit of {MAX_SIDECAR_BYTES:,} bytes; "
        "a capture sidecar is a few kilobytes: check what wrote it"
    )
