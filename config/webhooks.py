"""Webhook receivers (``PANODOCK_WEBHOOKS``) and the events they can ask for.

A receiver is a URL, the events it wants and the secret its deliveries are signed with
(:mod:`workers.notify.signing`). The URL is validated when the settings are built, so a
typo stops the service at start instead of dead-lettering every delivery.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, field_validator
from pydantic_core.core_schema import SerializationInfo

#: A capture was published: its scene's pointer names the new version.
SCENE_PUBLISHED: Final = "scene.published"
#: A rendered scene version waits for a person's review (it is not live).
SCENE_REVIEW: Final = "scene.review"
#: A capture failed (its own problem, an unexpected error, or its retries ran out).
CAPTURE_FAILED: Final = "capture.failed"
#: A capture was quarantined (its files are not a capture panodock can process).
CAPTURE_QUARANTINED: Final = "capture.quarantined"
#: A share link was used for the first time.
SHARE_USED_FIRST: Final = "share.used_first"
#: Every event a webhook can ask for; ``"*"`` asks for all of them.
EVENTS: Final = frozenset(
    {SCENE_PUBLISHED, SCENE_REVIEW, CAPTURE_FAILED, CAPTURE_QUARANTINED, SHARE_USED_FIRST}
)
ALL_EVENTS: Final = "*"
#: The context key under which :func:`config.settings.settings_env` asks for the secret.
REVEAL_SECRETS: Final = "reveal_secrets"


class WebhookConfig(BaseModel):
    """One webhook receiver: where to POST, which events, and the signing secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="http(s) URL the events are POSTed to (never redirected).")
    events: list[str] = Field(
        default_factory=lambda: [ALL_EVENTS],
        description=f'Events to send: some of {sorted(EVENTS)}, or "*" for all.',
    )
    secret: SecretStr = Field(description="Shared secret of the HMAC-SHA256 signature.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"webhook URL {value!r} must be an http:// or https:// URL with a host"
            )
        if parts.username or parts.password:
            raise ValueError("a webhook URL must not carry credentials; use the secret")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - EVENTS - {ALL_EVENTS})
        if unknown or not value:
            raise ValueError(
                f"webhook events {unknown or value} unknown: use some of {sorted(EVENTS)} or '*'"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("a webhook secret must have at least 16 characters")
        return value

    @field_serializer("secret", when_used="json")
    def _dump_secret(self, value: SecretStr, info: SerializationInfo) -> str:
        # Masked in JSON unless the caller (settings_env, for child processes) asks for it.
        context = info.context or {}
        return value.get_secret_value() if context.get(REVEAL_SECRETS) else str(value)

    def wants(self, event: str) -> bool:
        """Whether this receiver asked for ``event``."""
        return ALL_EVENTS in self.events or event in self.events
