"""A command whose extra is not installed says which, and the line that installs it, for an
install from a checkout (regtune is on no package index); exit status 2, no traceback. The same
for the s3 extra when the settings choose the S3 artifact store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from regtune.service.cli import parts
from regtune.service.cli.app import app
from regtune.service.cli.extras import require_artifact_store
from regtune.service.settings import Settings, use_settings


def said(result: Result) -> str:
    """What the command wrote to stderr, whitespace collapsed (a terminal may wrap it)."""
    return " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("command", "extra", "hidden"),
    [("worker", "worker", "torch"), ("serve", "worker", "sklearn"), ("api", "server", "fastapi")],
)
def test_a_missing_extra_names_the_install_line_in_a_checkout(
    monkeypatch: pytest.MonkeyPatch, command: str, extra: str, hidden: str
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # not importable, as on a client install

    result = CliRunner().invoke(app, [command])

    assert result.exit_code == 2, result.output
    assert said(result) == (
        f"error: `regtune {command}` needs the {extra} extra ({hidden} is not installed): "
        f"in a checkout of regtune, pip install '.[{extra}]'"
    )
    assert "Traceback" not in result.output


def started() -> None:
    raise AssertionError("the command went on past its checks")


@pytest.fixture
def s3_store(tmp_path: Path) -> Iterator[None]:
    """Settings of a bucket store (its bucket never reached: the commands stop before)."""
    use_settings(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'regtune.db'}",
            artifact_store="s3",
            s3_bucket="models",
        )
    )
    try:
        yield
    finally:
        use_settings(None)


@pytest.mark.parametrize("command", ["api", "worker", "dashboard", "serve"])
def test_an_s3_artifact_store_without_boto3_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, s3_store: None, command: str
) -> None:
    """Before the s3 extra existed, this failed only when a study's best model was saved or
    read, after the study had trained."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setattr(parts, "_setup_logging", started)  # past the check: a failure, not a run

    result = CliRunner().invoke(app, [command])

    assert result.exit_code == 2, result.output
    assert said(result) == (
        f"error: `regtune {command}` with REGTUNE_ARTIFACT_STORE=s3 needs the s3 extra (boto3 is "
        "not installed): in a checkout of regtune, pip install '.[s3]'"
    )
    assert "Traceback" not in result.output


def test_a_file_system_store_needs_no_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    use_settings(Settings(artifact_store="filesystem"))
    try:
        require_artifact_store("api")  # returns: nothing to refuse
    finally:
        use_settings(None)


def test_every_package_of_an_extra_is_checked_by_its_import_name() -> None:
    """A package of an extra that ``MODULES`` leaves out let a command start without it: a
    worker without cmaes started, then failed every ``sampler: cmaes`` study it claimed with
    ``No module named 'cmaes'``."""
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from regtune.service.cli.extras import MODULES

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    imports: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            imports.setdefault(canonicalize_name(distribution), set()).add(module)
    for extra in ("server", "worker"):  # what this environment installs (dev: all)
        checked = MODULES[extra]
        for line in extras[extra]:
            requirement = Requirement(line)
            if requirement.name == "regtune":  # an extra it includes (INCLUDES)
                continue
            provided = imports[canonicalize_name(requirement.name)]
            assert provided & set(checked), f"{extra}: {requirement.name} ({sorted(provided)})"
