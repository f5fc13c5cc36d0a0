"""Queueing webhook deliveries and making them: the ``deliver_webhook`` actor.

A delivery message carries the receiver's URL, the delivery id, the event and the JSON
body, never the secret: the worker that delivers looks the secret up in its own settings
and signs at each attempt (a fresh timestamp, so a retry hours later is not refused as a
replay). Deliveries have their own queue, so a slow receiver never sits in front of a
capture, and their own retry policy (``PANODOCK_WEBHOOK_MAX_RETRIES``, exponential backoff
between ``PANODOCK_WEBHOOK_MIN_BACKOFF_SECONDS`` and ``..._MAX_BACKOFF_SECONDS``); after the
last retry dramatiq dead-letters the message, where ``panodock dead`` lists it.

A delivery succeeds on a 2xx answer. Anything else (a redirect too: they are never
followed), a refused connection or a timeout (``PANODOCK_WEBHOOK_TIMEOUT_SECONDS``) raises
:class:`WebhookDeliveryError` so dramatiq retries it.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import uuid
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import dramatiq

from config.errors import InfrastructureError
from config.settings import Settings
from config.webhooks import EVENTS, WebhookConfig
from workers.notify.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

#: The queue of webhook deliveries (apart from captures, see the module docstring).
WEBHOOK_QUEUE: Final = "webhooks"
#: The actor that makes one delivery: ``(url, delivery_id, event, body)``.
DELIVER_WEBHOOK: Final = "deliver_webhook"
#: How much of a receiver's answer is read (the rest is of no interest).
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "panodock-webhooks/1"

#: The notifier declared on each broker, for :func:`emit` called with a bare broker.
_NOTIFIERS: weakref.WeakKeyDictionary[dramatiq.Broker, Notifier] = weakref.WeakKeyDictionary()


class WebhookDeliveryError(InfrastructureError):
    """A webhook receiver did not accept a delivery (not a 2xx, refused, or timed out)."""


def redacted(url: str) -> str:
    """``url`` without its query: what log lines and errors may name (no tokens in them)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


class Notifier:
    """The webhook receivers of one process and the actor that delivers to them.

    Parameters
    ----------
    settings:
        ``webhooks`` and the ``webhook_*`` retry and timeout settings.
    broker:
        The broker the ``deliver_webhook`` actor is declared on.
    """

    def __init__(self, settings: Settings, broker: dramatiq.Broker) -> None:
        self.webhooks: tuple[WebhookConfig, ...] = tuple(settings.webhooks)
        self.timeout = settings.webhook_timeout_seconds
        max_retries = settings.webhook_max_retries
        self.actor: dramatiq.Actor[[str, str, str, str], None] = dramatiq.Actor(
            self._deliver,
            broker=broker,
            actor_name=DELIVER_WEBHOOK,
            queue_name=WEBHOOK_QUEUE,
            priority=0,
            options={
                "max_retries": max_retries,
                # Its own predicate: the capture outcome table does not apply to a receiver.
                "retry_when": lambda retries, exc: retries < max_retries,
                "min_backoff": int(settings.webhook_min_backoff_seconds * 1000),
                "max_backoff": int(settings.webhook_max_backoff_seconds * 1000),
            },
        )
        _NOTIFIERS[broker] = self

    def emit(self, event: str, payload: Mapping[str, Any]) -> list[str]:
        """Queue one delivery of ``event`` per receiver that wants it; returns their ids.

        Raises
        ------
        ValueError
            ``event`` is not one of :data:`config.webhooks.EVENTS`.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}; known: {sorted(EVENTS)}")
        ids = []
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for hook in self.webhooks:
            if not hook.wants(event):
                continue
            delivery = str(uuid.uuid4())
            body = json.dumps(
                {"id": delivery, "event": event, "created_at": created, "data": dict(payload)},
                separators=(",", ":"),
                sort_keys=True,
            )
            self.actor.send(hook.url, delivery, event, body)
            ids.append(delivery)
        if ids:
            log.info("queued %d webhook delivery(ies) of %s", len(ids), event)
        return ids

    def _deliver(self, url: str, delivery: str, event: str, body: str) -> None:
        hook = next((h for h in self.webhooks if h.url == url), None)
        if hook is None:  # removed from the settings since it was queued: nobody to tell
            log.warning(
                "webhook %s is no longer configured; delivery %s dropped", redacted(url), delivery
            )
            return
        data = body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery,
            SIGNATURE_HEADER: sign(hook.secret.get_secret_value(), data),
        }
        try:
            status = post(url, data, headers, timeout=self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookDeliveryError(
                f"webhook {redacted(url)}: delivery {delivery} ({event}) failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if not 200 <= status < 300:
            raise WebhookDeliveryError(
                f"webhook {redacted(url)}: delivery {delivery} ({event}) answered {status}"
                + (" (a redirect; they are not followed: configure the final URL)"
                   if 300 <= status < 400 else "")
            )  # fmt: skip
        log.info(
            "webhook %s: delivery %s (%s) accepted (%d)", redacted(url), delivery, event, status
        )


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
    """POST ``body`` to ``url`` once, without following redirects; returns the status."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=dict(headers))
        answer = conn.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        return answer.status
    finally:
        conn.close()


def emit(app_or_broker: object, event: str, payload: Mapping[str, Any]) -> None:
    """Queue ``event`` for every webhook that wants it; never raises.

    Parameters
    ----------
    app_or_broker:
        The :class:`workers.queue.actors.App` (its ``notifier``), a :class:`Notifier`, or a
        broker a notifier was declared on.
    event:
        One of :data:`config.webhooks.EVENTS`.
    payload:
        The event's ``data``: names and keys only (site, scene, version, capture id,
        reason, the scene.json key), nothing private (no GPS, no keys of originals).
    """
    try:
        notifier = _notifier_of(app_or_broker)
        if notifier is not None:
            notifier.emit(event, payload)
    except Exception:  # a webhook must never fail what it reports on
        log.warning("could not queue the %s webhook deliveries; not sent", event, exc_info=True)


def _notifier_of(target: object) -> Notifier | None:
    if isinstance(target, Notifier):
        return target
    found = getattr(target, "notifier", None)
    if isinstance(found, Notifier):
        return found
    if isinstance(target, dramatiq.Broker):
        return _NOTIFIERS.get(target)
    return None
