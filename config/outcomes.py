"""The one table of what happens to a job that raised (STYLE.md #7, #8).

Three outcomes: ``"quarantine"`` (the input is unusable: kept, never retried), ``"fail"``
(this capture cannot be processed as things stand: recorded with its reason, an operator
can ``panodock retry`` it after a fix) and ``"retry"`` (infrastructure: dramatiq retries
the job with backoff, and a capture whose retries run out is marked failed).

The actor body consults :func:`outcome` to record quarantined and failed captures, and
dramatiq's own ``Retries(retry_when=...)`` consults it to decide whether to retry, so the
two can never disagree. An exception the table does not know is a programming error: it
fails the capture at once with its traceback kept, instead of being retried as if Redis
were down.

Classes outside ``config`` (redis, dramatiq, minio) are matched by their qualified names
along the exception's class hierarchy, so this module imports none of them.
"""

from __future__ import annotations

from typing import Final, Literal

from config.errors import (
    CaptureError,
    ConfigError,
    InfrastructureError,
    QuarantineError,
)

Outcome = Literal["quarantine", "fail", "retry"]

#: Exception class (or the qualified name of a class outside config) -> outcome, most
#: specific first; the first entry along the exception's class hierarchy decides.
OUTCOMES: Final[tuple[tuple[type[BaseException] | str, Outcome], ...]] = (
    (QuarantineError, "quarantine"),
    (CaptureError, "fail"),
    # A setting or a shipped file is wrong (a face model that does not load, a site's bad
    # control points): retrying cannot help; the message says what to fix.
    (ConfigError, "fail"),
    (InfrastructureError, "retry"),  # StoreError, StageTimeout
    ("redis.exceptions.RedisError", "retry"),
    # dramatiq's TimeLimitExceeded and Shutdown: the job was stopped, not wrong.
    ("dramatiq.threading.Interrupt", "retry"),
    (OSError, "retry"),  # connection refused or reset, timeouts, a full disk
)

#: S3 error codes (minio's ``S3Error.code``) that decide the outcome by themselves; the
#: object store wraps S3 errors in a StoreError raised ``from`` the S3Error.
S3_CODES: Final[dict[str, Outcome]] = {
    "InternalError": "retry",
    "ServiceUnavailable": "retry",
    "SlowDown": "retry",
    "RequestTimeout": "retry",
    "RequestTimeTooSkewed": "retry",
    "OperationAborted": "retry",
    # Retrying with the same credentials or bucket cannot succeed; the store's message
    # says which setting to check.
    "AccessDenied": "fail",
    "InvalidAccessKeyId": "fail",
    "SignatureDoesNotMatch": "fail",
    "NoSuchBucket": "fail",
}


def s3_code_outcome(code: str | None) -> Outcome | None:
    """The outcome an S3 error code decides, or None when the code alone does not decide."""
    return S3_CODES.get(code or "")


def outcome(exc: BaseException) -> Outcome:
    """What to do with a job that raised ``exc`` (see :data:`OUTCOMES` and :data:`S3_CODES`).

    An ``Exception`` the table does not know is ``"fail"``; any other ``BaseException``
    (the process being interrupted, as by SIGKILL) is ``"retry"``: the job did not end.
    """
    listed = _listed(exc)
    if listed is not None:
        return listed
    return "fail" if isinstance(exc, Exception) else "retry"


def is_unexpected(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``Exception`` the table does not name: a bug, keep its traceback."""
    return isinstance(exc, Exception) and _listed(exc) is None


def _listed(exc: BaseException) -> Outcome | None:
    """The outcome the S3 code or the first matching table entry gives ``exc``, if any."""
    code = _s3_code(exc)  # more specific than the StoreError that carries it
    if code is not None:
        return code
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
    for kind, action in OUTCOMES:
        if kind in names if isinstance(kind, str) else isinstance(exc, kind):
            return action
    return None


def _s3_code(exc: BaseException) -> Outcome | None:
    """The outcome of the S3 error a store error was raised from, if its code decides it."""
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; the bound guards against a cycle
        if seen is None:
            return None
        if type(seen).__name__ == "S3Error":
            return s3_code_outcome(getattr(seen, "code", None))
        seen = seen.__cause__
    return None
