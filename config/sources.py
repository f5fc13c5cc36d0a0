"""One capture source of ``PANODOCK_SOURCES`` (README, "Capture sources").

A source is where captures come from: a local folder, a network share, a USB card, a PTP
camera or a Wi-Fi camera speaking the Open Spherical Camera API. The list is a setting
(:class:`config.settings.Settings.sources`); :mod:`ingest.sources.factory` builds each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import SerializationInfo

from config.webhooks import REVEAL_SECRETS


def _check_camera_url(name: str, url: str | None) -> None:
    """An osc source's URL: http(s), a host, and no credentials (they go in username/password)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"source {name}: an osc source needs a url like http://192.168.1.1")
    if parts.username or parts.password:
        raise ValueError(f"source {name}: put the camera's credentials in username/password")


class SourceConfig(BaseModel):
    """One capture source (README, "Capture sources"); a list of them is ``sources``."""

    # An invalid entry's error must not quote it: it may hold a camera's password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(description="Unique name, shown on the status page and in capture history.")
    kind: Literal["local", "share", "usb", "ptp", "osc"] = Field(
        description="local folder (inotify), network share (polled), USB card, PTP camera, "
        "Wi-Fi camera (Open Spherical Camera API)."
    )
    path: Path | None = Field(
        None, description="local/share: the folder; usb: only volumes mounted below it."
    )
    port: str | None = Field(
        None, description="ptp: libgphoto2 port (`usb:001,004`, `disk:<dir>`); unset = first."
    )
    model: str | None = Field(None, description="ptp: libgphoto2 camera model; unset = detect.")
    url: str | None = Field(
        None, description="osc: the camera's address, e.g. `http://192.168.1.1` (Theta)."
    )
    username: str | None = Field(
        None, description="osc: digest-auth user (Theta in client mode: `THETA` + serial)."
    )
    password: SecretStr | None = Field(
        None, description="osc: digest-auth password (a secret: never logged or shown)."
    )
    site: str | None = Field(None, description="Site of its captures; unset = `default_site`.")
    poll_seconds: float = Field(1.0, gt=0, description="share/usb/ptp/osc: interval of the scans.")
    stable_seconds: float = Field(
        5.0, ge=0, description="share: a file is taken once unchanged this long."
    )
    require_mount: bool = Field(True, description="share: offline unless `path` is mounted.")
    group_gap_seconds: float = Field(
        10.0, ge=0, description="Largest gap between shots of one capture without a sidecar."
    )
    delete_after_import: bool = Field(
        False, description="ptp/osc: delete from the camera once archived and verified."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError("a source name uses letters, digits, '-' and '_' only")
        return value

    @model_validator(mode="after")
    def _path_needed(self) -> SourceConfig:
        if self.kind in ("local", "share") and self.path is None:
            raise ValueError(f"source {self.name}: a {self.kind} source needs a path")
        if self.kind == "osc":
            _check_camera_url(self.name, self.url)
            if (self.username is None) != (self.password is None):
                raise ValueError(f"source {self.name}: digest auth needs username and password")
        return self

    @field_serializer("password", when_used="json")
    def _dump_password(self, value: SecretStr | None, info: SerializationInfo) -> str | None:
        # Masked in JSON unless settings_env (for the watcher child) asks for it.
        if value is None:
            return None
        context = info.context or {}
        return value.get_secret_value() if context.get(REVEAL_SECRETS) else str(value)
