"""Random secrets, their hashes, and the durations the CLI accepts (``30d``, ``12h``)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

from config.errors import ConfigError

#: Bytes of randomness of every token (``secrets.token_urlsafe(32)``: 256 bits).
TOKEN_BYTES: Final = 32
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: What a token may look like on the wire (URL-safe base64, with an optional prefix).
TOKEN_SHAPE: Final = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def new_token(prefix: str = "") -> str:
    """A fresh random token (>= 256 bits), URL-safe."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    """Constant-time comparison of two digests."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_id() -> str:
    """A short public id for a share or key (not a secret)."""
    return secrets.token_hex(6)


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w`` as a timedelta.

    Raises
    ------
    config.errors.ConfigError
        The text is not a positive number followed by one of s, m, h, d, w.
    """
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            f"cannot read the duration {text!r}: write a number and a unit, e.g. 30d, 12h, 90m"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
