"""The CLI as the README says it is: every command that talks to the API takes ``--json`` and
prints pure JSON on stdout ("Using regtune": "every command takes --json"), the ones that change
a thing included; the help shows the defaults "Running the parts" gives."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import regtune
from tests.inprocess import Apps
from tests.service.test_client_optuna import STUDY, ThroughApp

ADMIN = "cli-json-admin-key-0123456789abcdef"
SERVER_PARTS = {"migrate", "api", "worker", "dashboard", "serve"}
"""The commands that run a part of the service rather than ask the API something."""


def _leaves(command: Any, name: str = "") -> Iterator[tuple[str, Any]]:
    """Each command of the app by its full name (``keys revoke``); typer's groups hold theirs."""
    if hasattr(command, "commands"):
        for sub_name, sub in command.commands.items():
            yield from _leaves(sub, f"{name} {sub_name}".strip())
    else:
        yield name, command


def test_every_command_that_asks_the_api_takes_json() -> None:
    from regtune.service.cli.app import app

    lacking = [
        name
        for name, command in _leaves(typer.main.get_command(app))
        if name not in SERVER_PARTS and not any("--json" in param.opts for param in command.params)
    ]
    assert lacking == []


@pytest.fixture
def cli(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, Callable[..., object]]:
    """The admin's API in this process, and ``run(*args)``: the CLI against it, its stdout parsed
    as JSON."""
    from regtune.service.cli import output
    from regtune.service.cli.app import app

    api = apps(admin_key=ADMIN)
    monkeypatch.setattr(
        output,
        "Client",
        lambda url, *, key=None: regtune.Client(url, key=key, transport=ThroughApp(api)),
    )

    def run(*args: str) -> object:
        argv = [*args, "--url", "http://regtune.test", "--key", ADMIN, "--json"]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return api, run


def test_revoke_rm_and_report_print_json(
    cli: tuple[TestClient, Callable[..., object]], tmp_path: Path
) -> None:
    api, run = cli
    auth = {"Authorization": f"Bearer {ADMIN}"}
    key = api.post("/v1/keys", json={"tenant": "team-a"}, headers=auth).json()
    assert run("keys", "revoke", key["id"]) == {"id": key["id"], "revoked": True}

    rows = "x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(30))
    dataset = api.post(
        "/v1/datasets",
        files={"file": ("rows.csv", io.BytesIO(rows.encode()))},
        data={"target": "y"},
        headers=auth,
    ).json()
    assert run("datasets", "rm", dataset["id"]) == {"id": dataset["id"], "deleted": True}

    study = api.post("/v1/studies", json=STUDY, headers=auth).json()
    page = tmp_path / "report.html"
    assert run("report", study["id"], "-o", str(page)) == {"id": study["id"], "path": str(page)}
    assert page.read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize(("command", "option"), [("api", "--workers"), ("serve", "--api-workers")])
def test_the_api_process_count_s_default_is_shown_in_help(command: str, option: str) -> None:
    """README, "Running the parts": K processes, default one per CPU; the help says so too
    (written as ``[default: …]`` in the help text, rich took it for markup and printed nothing)."""
    from regtune.service.cli.app import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if option in line)
    row = [lines[at], *(line for line in lines[at + 1 :] if "--" not in line)][:3]  # its lines
    assert "one per CPU" in " ".join(row), row


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["api", "--port", "84036"], "--port"),  # uvicorn listened on 18500, the log said 84036
        (["api", "--port", "0"], "--port"),
        (["serve", "--port", "99999"], "--port"),  # OverflowError from bind(), a traceback
        (["serve", "--dashboard-port", "70000"], "--dashboard-port"),
        (["serve", "--workers", "-2"], "--workers"),  # ran the API alone, "workers -2" shown
        (["dashboard", "--port", "65536"], "--port"),
        (["worker", "--max-trials", "0"], "--max-trials"),
    ],
)
def test_a_part_refuses_an_option_out_of_range_before_it_starts(
    argv: list[str], option: str
) -> None:
    """Parsed only: with the bad value accepted, the part would start (and the test wait)."""
    with pytest.raises(typer.BadParameter) as refused:
        _parse(argv)
    assert refused.value.param is not None and option in refused.value.param.opts


def test_the_parts_take_the_ports_and_counts_the_readme_shows() -> None:
    for argv in (
        ["api", "--port", "65535", "--workers", "2"],
        ["serve", "--port", "1", "--workers", "0", "--dashboard-port", "8080"],
        ["dashboard", "--port", "8080"],
        ["worker", "--max-trials", "1"],
    ):
        _parse(argv)


def _parse(argv: list[str]) -> None:
    """``regtune *argv``'s options parsed, the command not run."""
    from regtune.service.cli.app import app

    group: Any = typer.main.get_command(app)
    group.commands[argv[0]].make_context(argv[0], argv[1:])


def test_cancel_promises_the_stop_the_worker_makes() -> None:
    """A worker sees a cancel on its heartbeat's round trip, so a running trial stops within
    one heartbeat interval, at the next minibatch step or solver iteration after it: the help
    and the README say so (they said "at their next epoch", which an epoch longer than the
    interval beats and a shorter one misses)."""
    from regtune.service.cli.app import app
    from regtune.service.settings import Settings

    default = Settings.model_fields["heartbeat_interval"].default
    helped = CliRunner().invoke(app, ["cancel", "--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0, helped.output
    said = " ".join(helped.output.split())
    listed = " ".join(CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output.split())
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "next epoch" not in said
    assert "running ones stop within a heartbeat interval" in listed, listed
    assert f"REGTUNE_HEARTBEAT_INTERVAL, {default} s by default" in said, said
    assert "next minibatch step or solver iteration" in said, said
    assert (
        f"(cancel it first: a running trial's worker sees the cancel on its next heartbeat, "
        f"within `REGTUNE_HEARTBEAT_INTERVAL`, {default} s by default, and stops the trial at "
        "the next minibatch step or solver iteration)"
    ) in readme


@pytest.mark.parametrize("command", ["watch", "submit", "extend", "cancel"])
def test_a_help_paragraph_wraps_to_the_terminal_not_to_its_source_lines(command: str) -> None:
    """Each paragraph after the first kept its docstring's line ends: at any width, `Ctrl-C
    stops` / `watching, not the` / `study: 130.`."""
    from regtune.service.cli.app import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.output.split("╭")[0]  # the paragraphs above the boxes
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [lines for lines in paragraphs if lines]
    assert len(paragraphs) >= 3, result.output  # usage, the first paragraph, and more
    for lines in paragraphs[1:]:  # a line ends short only where its paragraph does
        assert all(len(line) > 150 for line in lines[:-1]), lines
