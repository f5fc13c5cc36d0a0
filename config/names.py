"""The one naming rule for sites and scenes, used everywhere a name becomes part of a key.

A site or scene name is a *slug*: 1-100 characters of lowercase letters, digits, ``-`` and
``_``. Names are lower-cased once, where they enter panodock (a sidecar, a CLI argument, a
setting), so ``North-Campus`` typed by a technician and ``North-Campus`` in a capture's
sidecar are the same site, ``north-campus``, in every key (``sites/north-campus/...``,
``scenes/north-campus/...``).

Two forms:

- :func:`slug` turns free text (a file or folder name) into a slug, replacing every run of
  other characters with ``-`` (``"Lobby 1.01"`` -> ``"lobby-1-01"``).
- :data:`Slug`, for pydantic fields, accepts a name written with letters, digits, ``-`` and
  ``_`` in any case and stores it lower-cased; anything else is refused with a message, so
  a typo in a sidecar is reported rather than silently renamed.

Building and floor ids (:data:`KeyPart`) are key-safe too but keep their case: they are
labels a technician reads on the floor plan ("B", "2M").
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field

MAX_LENGTH: Final = 100
#: What a stored slug looks like (after lower-casing).
SLUG_PATTERN: Final = re.compile(rf"[a-z0-9_-]{{1,{MAX_LENGTH}}}")
#: What a name may be written as (any case) to be accepted as a slug.
_WRITTEN: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_LENGTH}}}")


def slug(text: str, *, fallback: str = "scene") -> str:
    """A slug made from free text; ``fallback`` when nothing usable is left.

    >>> slug("North Campus / Level 2")
    'north-campus-level-2'
    """
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:MAX_LENGTH].strip("-_")
    return cleaned or fallback


def canonical(value: str) -> str:
    """``value`` as a stored slug (lower-cased); ValueError if it is not written as one."""
    if not _WRITTEN.fullmatch(value):
        raise ValueError(f"use 1-{MAX_LENGTH} letters, digits, '-' and '_' only")
    return value.lower()


def _key_part(value: str) -> str:
    if not _WRITTEN.fullmatch(value):
        raise ValueError(f"use 1-{MAX_LENGTH} letters, digits, '-' and '_' only")
    return value


Slug = Annotated[
    str,
    AfterValidator(canonical),
    Field(json_schema_extra={"pattern": f"^{_WRITTEN.pattern}$"}),
]
KeyPart = Annotated[
    str,
    AfterValidator(_key_part),
    Field(json_schema_extra={"pattern": f"^{_WRITTEN.pattern}$"}),
]
