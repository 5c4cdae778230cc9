"""``regtune --version`` names the installed version; ``python -m regtune`` is the same command
as ``regtune``."""

from __future__ import annotations

import sys
from importlib.metadata import version

from typer.testing import CliRunner

from regtune.service.cli.app import app
from tests.support import Processes


def test_version_prints_the_installed_version_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"regtune {version('regtune')}\n"


def test_the_package_names_the_same_version() -> None:
    """``regtune.__version__``, where Python packages keep it (was: AttributeError)."""
    import regtune

    assert regtune.__version__ == version("regtune")


def test_the_commands_are_unchanged_by_the_version_option() -> None:
    result = CliRunner().invoke(app, ["datasets", "--help"])

    assert result.exit_code == 0, result.output
    assert "Upload and list your own datasets." in result.stdout


def test_python_dash_m_regtune_runs_the_cli(processes: Processes) -> None:
    helped = processes.run([sys.executable, "-m", "regtune", "--help"])
    assert helped.returncode == 0, helped.stderr
    for command in ("submit", "serve", "datasets", "--version"):
        assert command in helped.stdout, command

    versioned = processes.run([sys.executable, "-m", "regtune", "--version"])
    assert versioned.returncode == 0, versioned.stderr
    assert versioned.stdout == f"regtune {version('regtune')}\n"
