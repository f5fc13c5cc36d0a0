"""docker/: what can be checked without a Docker engine (none runs on our machines)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from config.settings import Settings
from workers.cli.main import _parser

DOCKER = Path(__file__).parents[2] / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
PANODOCK = {name for name, svc in SERVICES.items() if "build" in svc}


def _subcommands() -> set[str]:
    parser = _parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)  # type: ignore[attr-defined]


def test_compose_runs_the_cli_the_tests_run() -> None:
    assert PANODOCK == {"watcher", "worker", "status"}
    commands = _subcommands()
    for name in PANODOCK:
        command = SERVICES[name]["command"][0]
        assert command in commands, f"{name}: `panodock {command}` does not exist"
        assert SERVICES[name]["healthcheck"]["test"], name


def test_compose_sets_only_real_settings() -> None:
    fields = {f"PANODOCK_{n.upper()}" for n in Settings.model_fields}
    for name in PANODOCK:
        for var in SERVICES[name]["environment"]:
            assert var in fields, f"{name} sets {var}, which panodock does not read"


def test_compose_references_only_what_exists() -> None:
    for name in PANODOCK:
        build = SERVICES[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).is_file()
    used = set(re.findall(r"\$\{(\w+)", (DOCKER / "compose.yaml").read_text()))
    example = {
        line.split("=", 1)[0]
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used <= example, f".env.example lacks {used - example}"


def test_workers_scale_and_redis_never_evicts() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N
    redis = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    env = SERVICES["status"]["environment"]
    assert env["PANODOCK_SERVE_HOST"] == "0.0.0.0" and env["PANODOCK_SERVE_TOKEN"]
    for svc in SERVICES.values():
        assert ":latest" not in svc.get("image", "") and ":" in svc.get("image", "x:1")


def test_dockerfile_is_pinned_slim_and_not_root() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert bases and all(re.search(r":\d+\.\d+\.\d+-slim", b) for b in bases), bases
    assert re.search(r"^USER panodock$", text, re.M)
    assert 'ENTRYPOINT ["panodock"]' in text
    assert "--constraint docker/constraints.txt" in text
    for path in re.findall(r"^COPY (?!--)(\S+)", text, re.M):
        assert (DOCKER.parent / path).exists(), path


def test_every_runtime_dependency_is_pinned() -> None:
    project = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())["project"]
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (DOCKER / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned: run docker/pin.sh"


@pytest.mark.parametrize("name", ["watcher", "worker", "status"])
def test_services_wait_for_their_dependencies(name: str) -> None:
    depends = SERVICES[name]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["minio"]["condition"] == "service_healthy"
