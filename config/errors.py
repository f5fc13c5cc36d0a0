"""The one exception tree of panodock.

Two kinds of failure are kept apart (STYLE.md #7): a :class:`CaptureError` is a problem
with one capture — it fails or quarantines that capture and the service goes on; an
:class:`InfrastructureError` is a problem with Redis, storage or the machine — it is
retried, and if it persists the job is dead-lettered loudly. What each class leads to is
decided in one table, :mod:`config.outcomes`; an exception outside this tree that the
table does not name is a bug and fails the capture at once, its traceback kept.
"""

from __future__ import annotations


class PanodockError(Exception):
    """Root of every error panodock raises on purpose."""


class ConfigError(PanodockError):
    """The settings are invalid or name something that does not exist."""


class CaptureError(PanodockError):
    """One capture cannot be processed; it is marked failed and the service goes on."""


class QuarantineError(CaptureError):
    """The input itself is unusable (not an image, empty, a bomb, malformed sidecar)."""


class InfrastructureError(PanodockError):
    """Redis, object storage or the machine failed; the job is retried."""


class StoreError(InfrastructureError):
    """An object-store operation failed."""


class ObjectNotFound(StoreError):
    """The object store has no object under the requested key."""


class PreconditionFailed(StoreError):
    """A conditional write lost: the object changed since it was read."""


class StageTimeout(InfrastructureError):
    """A pipeline stage ran past its time limit (retried: it may be a slow store)."""
