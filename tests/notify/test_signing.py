"""Signatures the way Stripe makes them, and the receiver's check."""

from __future__ import annotations

import hashlib
import hmac

from workers.notify import sign, verify_signature

BODY = b'{"event":"scene.published","id":"d1"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign("s3cret-s3cret-s3cret", BODY, timestamp=1_700_000_000)
    digest = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"


def test_verify_accepts_a_fresh_signature_and_refuses_everything_else() -> None:
    now = 1_700_000_000
    header = sign("secret-one-secret", BODY, timestamp=now)
    assert verify_signature("secret-one-secret", header, BODY, now=now + 299)
    assert not verify_signature("secret-one-secret", header, BODY, now=now + 301), "too old"
    assert not verify_signature("secret-one-secret", header, BODY, now=now - 301), "future"
    assert not verify_signature("secret-two-secret", header, BODY, now=now), "wrong secret"
    assert not verify_signature("secret-one-secret", header, BODY + b" ", now=now), "changed"
    stamp, mac = header.split(",")
    forged = f"t={now + 10},{mac}"  # a replay with a new timestamp
    assert not verify_signature("secret-one-secret", forged, BODY, now=now + 10)
    for bad in ("", "t=abc,v1=00", f"{stamp}", mac, "garbage"):
        assert not verify_signature("secret-one-secret", bad, BODY, now=now), bad
    rotated = f"{stamp},v1={'0' * 64},{mac}"
    assert verify_signature("secret-one-secret", rotated, BODY, now=now), "any v1 may match"
