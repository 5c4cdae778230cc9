"""A command whose extra is not installed says which, and the line that installs it, for an
install by the package's name and from a checkout alike; exit status 2, no traceback."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner, Result

from regtune.service.cli.app import app


def said(result: Result) -> str:
    """What the command wrote to stderr, whitespace collapsed (a terminal may wrap it)."""
    return " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("command", "extra", "hidden"),
    [("worker", "worker", "torch"), ("serve", "worker", "sklearn"), ("api", "server", "fastapi")],
)
def test_a_missing_extra_names_the_install_line_by_name_and_from_a_checkout(
    monkeypatch: pytest.MonkeyPatch, command: str, extra: str, hidden: str
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # not importable, as on a client install

    result = CliRunner().invoke(app, [command])

    assert result.exit_code == 2, result.output
    assert said(result) == (
        f"error: `regtune {command}` needs the {extra} extra ({hidden} is not installed): "
        f"pip install 'regtune[{extra}]' (from a checkout: pip install '.[{extra}]')"
    )
    assert "Traceback" not in result.output
