"""PANODOCK_WEBHOOKS: validated at start, the secret masked everywhere but the child env."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from config.errors import ConfigError
from config.settings import Settings, load_settings, settings_env
from config.webhooks import WebhookConfig

HOOK = {"url": "https://cad.example.org/panodock?k=1", "events": ["*"], "secret": "x" * 20}


def test_webhooks_come_from_json_and_reach_child_processes_with_their_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PANODOCK_WEBHOOKS", json.dumps([HOOK]))
    settings = load_settings()
    (hook,) = settings.webhooks
    assert hook.url == HOOK["url"] and hook.wants("capture.failed")
    assert "x" * 20 not in repr(settings) and "x" * 20 not in str(settings.model_dump())
    assert "x" * 20 not in settings.model_dump_json(), "masked in JSON unless asked"
    env = settings_env(settings)
    monkeypatch.setenv("PANODOCK_WEBHOOKS", env["PANODOCK_WEBHOOKS"])
    child = load_settings()
    assert child.webhooks[0].secret.get_secret_value() == "x" * 20, "the worker can sign"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"url": "ftp://cad.example.org/x"}, "http:// or https://"),
        ({"url": "file:///etc/passwd"}, "http:// or https://"),
        ({"url": "https://user:pw@cad.example.org/"}, "must not carry credentials"),
        ({"events": ["scene.deleted"]}, "unknown"),
        ({"events": []}, "unknown"),
        ({"secret": "short"}, "at least 16"),
    ],
)
def test_a_bad_webhook_stops_the_start(change: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        load_settings(webhooks=[{**HOOK, **change}])
    assert "x" * 20 not in str(caught.value)


def test_events_filter() -> None:
    hook = WebhookConfig(
        url="http://127.0.0.1/", events=["scene.published"], secret=SecretStr("y" * 16)
    )
    assert hook.wants("scene.published") and not hook.wants("capture.failed")
    assert Settings.model_fields["webhook_max_retries"].default == 8
    assert Settings.model_fields["webhook_timeout_seconds"].default == 10.0
