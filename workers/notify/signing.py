"""Signing webhook deliveries, and the check a receiver makes (the way Stripe signs).

The header is ``X-Panodock-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is the
HMAC-SHA256, keyed with the webhook's secret, of ``"<t>." + body`` (the raw request body,
bytes as received). A receiver recomputes it, compares in constant time, and refuses a
timestamp further than its tolerance (5 minutes) from its clock, so a captured delivery
cannot be replayed later. :func:`verify_signature` is self-contained (standard library
only) so a receiver can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: How far (seconds) a delivery's timestamp may be from the receiver's clock.
DEFAULT_TOLERANCE = 300
SIGNATURE_HEADER = "X-Panodock-Signature"
EVENT_HEADER = "X-Panodock-Event"
DELIVERY_HEADER = "X-Panodock-Delivery"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Panodock-Signature`` value of ``body``, signed at ``timestamp`` (default now)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within ``tolerance`` seconds.

    Parameters
    ----------
    secret:
        The webhook's shared secret.
    header:
        The ``X-Panodock-Signature`` header: ``t=<unix>,v1=<hex>`` (several ``v1`` values
        are accepted, for a secret being rotated).
    body:
        The raw request body, exactly as received (not re-serialized JSON).
    tolerance:
        Largest accepted difference, in seconds, between ``t`` and the receiver's clock.
    now:
        The receiver's clock (unix seconds); default ``time.time()``.
    """
    stamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamp = value
        elif key == "v1":
            signatures.append(value)
    if stamp is None or not stamp.isdigit() or not signatures:
        return False
    clock = time.time() if now is None else now
    if abs(clock - int(stamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)
