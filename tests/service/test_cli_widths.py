"""The CLI's tables and the watch's bar on a terminal of ordinary width. Beside a long study
name, ``regtune ls`` at 80 columns squeezed status, done, running and created to nothing on
every row (``│││││``) and let the name run past ``NAME_WIDTH``; the bar lost done/total and
itself at 80 columns, and at 40 cut the best value mid-number (``best 0.1`` for 0.167837).
Now a name is cut with an ellipsis to fit, other columns wrap, and a terminal too narrow for
all leaves out whole columns from the right, saying which, keeping the ids and the status; the
bar leaves out its least telling parts first."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.cli import output
from regtune.service.cli.output import NAME_WIDTH, CliConsole
from regtune.service.client.watch import fields, make_progress
from tests.inprocess import cli_result, run_to_the_end
from tests.service.test_client_optuna import STUDY

LONG = "a-rather-long-study-name-for-the-quarterly-pricing-model-v2"  # 59 characters
CELL = re.compile(r"│ ([^│]*?) +(?=│)")


def on_a_terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """The CLI's tables go to a terminal ``width`` columns wide."""
    terminal = CliConsole(force_terminal=True, width=width, color_system=None)
    monkeypatch.setattr(output, "console", terminal)


def table_lines(shown: str) -> list[str]:
    return [line for line in shown.splitlines() if line[:1] in "┏┃┡│└"]


def rows(shown: str) -> list[list[str]]:
    """The cells of each row of a table's body (a wrapped row: each of its lines)."""
    return [CELL.findall(line + "│") for line in table_lines(shown) if line.startswith("│")]


def ls_at(api: TestClient, monkeypatch: pytest.MonkeyPatch, width: int) -> Any:
    """``regtune ls`` on a terminal ``width`` columns wide: it succeeds, and its table fits."""
    on_a_terminal(monkeypatch, width)
    result = cli_result(api, monkeypatch, "ls")
    assert result.exit_code == 0, result.output
    lines = table_lines(result.stdout)
    assert lines and all(len(line) <= width for line in lines), result.stdout
    return result


@pytest.fixture
def studies(api: TestClient) -> list[dict[str, object]]:
    """A completed study with a long name, and a queued one with a short name."""
    long = api.post("/v1/studies", json=STUDY | {"name": LONG}).json()
    run_to_the_end(api, long["id"])
    short = api.post("/v1/studies", json=STUDY | {"name": "short"}).json()
    return [long, short]


def test_ls_at_80_columns_shows_every_column_readable(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, studies: list[dict[str, object]]
) -> None:
    result = ls_at(api, monkeypatch, 80)
    lines = table_lines(result.stdout)
    header = " ".join(" ".join(lines[:3]).split())
    for name in ("id", "name", "status", "done", "running", "created", "(UTC)"):
        assert f" {name} " in header, result.stdout
    long, short = studies
    by_id = {row[0]: row for row in rows(result.stdout) if row[0]}
    name, *cells = by_id[str(long["id"])][1:6]
    assert cells[:3] == ["completed", "3/3", "0"] and cells[3], by_id  # created: its date
    assert name.endswith("…") and LONG.startswith(name[:-1]) and len(name) <= NAME_WIDTH
    assert by_id[str(short["id"])][1:5] == ["short", "queued", "0/3", "0"], by_id
    assert "not shown" not in result.stdout


def test_ls_at_40_columns_keeps_the_ids_and_statuses(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, studies: list[dict[str, object]]
) -> None:
    result = ls_at(api, monkeypatch, 40)
    long, short = studies
    shown = rows(result.stdout)
    assert [long["id"], "completed"] in shown and [short["id"], "queued"] in shown, shown
    said = " ".join(result.stdout.split())
    assert (
        "not shown at this width: name, done, running, created (UTC) (--json has every column)"
        in said
    )


def test_workers_and_datasets_at_80_columns_keep_their_ids_whole(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regtune.service.store.scheduling import workers

    worker_id = "regtune-worker-5d8c7b9f4-x7k2p-4242-abcdef"
    workers.register(worker_id)
    csv = "a,b,y\n" + "".join(f"{i},{i % 3},{i * 2}\n" for i in range(40))
    uploaded = api.post(
        "/v1/datasets", files={"file": (f"{LONG}.csv", csv.encode())}, data={"target": "y"}
    )
    assert uploaded.status_code == 201, uploaded.text
    on_a_terminal(monkeypatch, 80)

    live = cli_result(api, monkeypatch, "workers")
    assert live.exit_code == 0, live.output
    assert all(len(line) <= 80 for line in table_lines(live.stdout)), live.stdout
    row = rows(live.stdout)[0]
    assert row[0] == worker_id and all(row), live.stdout  # nothing squeezed to nothing
    on_a_terminal(monkeypatch, 40)
    narrow = cli_result(api, monkeypatch, "workers")
    assert rows(narrow.stdout)[0] == [worker_id], narrow.stdout  # whole, past the edge
    on_a_terminal(monkeypatch, 80)

    datasets = cli_result(api, monkeypatch, "datasets", "ls")
    assert datasets.exit_code == 0, datasets.output
    assert all(len(line) <= 80 for line in table_lines(datasets.stdout)), datasets.stdout
    row = rows(datasets.stdout)[0]
    assert row[0] == uploaded.json()["id"] and row[1].endswith("…"), datasets.stdout
    assert row[2:5] == ["y", "regression", "40"], datasets.stdout
    said = " ".join(datasets.stdout.split())
    assert "not shown at this width: features, uploaded (UTC) (--json has every column)" in said


def bar_line(study: StudyOut, width: int) -> str:
    console = Console(file=io.StringIO(), force_terminal=True, color_system=None, width=width)
    progress = make_progress(console)
    progress.add_task(
        study.name, total=study.progress.n_trials, completed=study.progress.done, **fields(study)
    )
    with console.capture() as captured:
        console.print(progress.get_renderable())
    return captured.get().rstrip("\n")


RUNNING = StudyOut.model_validate(
    {
        "id": "0" * 32,
        "name": "diabetes-enet-quarterly",
        "tenant": "default",
        "status": "running",
        "optuna_study_name": "diabetes-enet-quarterly",
        "definition": {"objective": {"metric": "val_rmse", "direction": "minimize"}},
        "counts": {"COMPLETE": 12, "PRUNED": 3, "FAIL": 1, "RUNNING": 2},
        "progress": {"done": 16, "n_trials": 40, "running": 2, "fraction": 0.4},
        "best_trial": {
            "number": 7,
            "value": 0.16783712,
            "values": None,
            "params": {},
            "n_nonzero": None,
            "user_attrs": {},
            "test_metrics": {},
        },
        "error": None,
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": None,
        "finished_at": None,
    }
)


@pytest.mark.parametrize("width", [200, 100, 80, 60, 40])
def test_the_bar_keeps_done_of_total_and_the_best_value_whole(width: int) -> None:
    line = bar_line(RUNNING, width)
    assert "\n" not in line and len(line) <= width, line
    assert "16/40" in line and "0.167837 (#7)" in line, line
    # the objective's name, left out with the pruned count, before the bar
    best = "best val_rmse 0.167837 (#7)" if width >= 100 else "best 0.167837 (#7)"
    assert best in line, line
    if width >= 40:
        assert "running" in line.split("(#7)")[1], line  # the status
    assert line.startswith("diabet"), line  # the name, whole or cut with an ellipsis
    if width >= 80:
        assert "━" in line and "complete 12" in line and "failed 1" in line, line
    if width >= 200:
        assert line.startswith("diabetes-enet-quarterly ━"), line
        assert "complete 12 · pruned 3 · failed 1 · running 2 best" in line and "ETA" in line
