"""Webhooks: tell front ends and agency systems what happened, signed and through the queue.

:func:`emit` is the one call the rest of panodock makes: it queues one delivery per
configured receiver (``PANODOCK_WEBHOOKS``) that asked for the event, on the ``webhooks``
queue, and never raises (a queueing error is logged and swallowed, so a webhook never fails
a capture or a share read). The ``deliver_webhook`` actor (:mod:`workers.notify.delivery`)
POSTs the body, signed the way Stripe signs (:mod:`workers.notify.signing`), and raises on
anything but a 2xx so dramatiq retries it with backoff and dead-letters it at the end.

Events (:data:`EVENTS`): ``scene.published`` (after the pointer swap), ``capture.failed``
and ``capture.quarantined`` (when the actor records the outcome, retries exhausted
included), ``share.used_first`` (the share gateway) and ``scene.review`` (a version was
rendered and held for a person's review, :mod:`workers.pipeline.review`). Approving it
sends ``scene.published``; rejecting it ``capture.failed``.
"""

from __future__ import annotations

from config.webhooks import (
    ALL_EVENTS,
    CAPTURE_FAILED,
    CAPTURE_QUARANTINED,
    EVENTS,
    SCENE_PUBLISHED,
    SCENE_REVIEW,
    SHARE_USED_FIRST,
)
from workers.notify.delivery import DELIVER_WEBHOOK, WEBHOOK_QUEUE, Notifier, emit
from workers.notify.signing import sign, verify_signature

__all__ = [
    "ALL_EVENTS",
    "CAPTURE_FAILED",
    "CAPTURE_QUARANTINED",
    "DELIVER_WEBHOOK",
    "EVENTS",
    "SCENE_PUBLISHED",
    "SCENE_REVIEW",
    "SHARE_USED_FIRST",
    "WEBHOOK_QUEUE",
    "Notifier",
    "emit",
    "sign",
    "verify_signature",
]
