"""The best value is named for the objective it is, wherever the CLI shows it: ``regtune show``
said "best trial #6: value 53.839", ``regtune best`` "trial #6  value 53.839" and the watch's
line "best 0.994453 (#8)", none of them which metric (a study of several objectives named
them: ``val_rmse=56.1177 n_inputs=10``). Now "val_rmse 53.839"; the watch's line names several
objectives as ``show`` does."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.cli import studies
from regtune.service.cli.output import CliConsole
from tests.inprocess import cli_output, run_to_the_end
from tests.service.test_rest_contract import definition


def watch_log(api: TestClient, monkeypatch: pytest.MonkeyPatch, study_id: str) -> str:
    """``regtune watch`` outside a terminal, as a CI log reads it: its log line (named as a
    terminal's console, which another test may leave rich to detect, would draw the bar)."""
    monkeypatch.setattr(studies, "console", CliConsole(force_terminal=False, soft_wrap=True))
    return cli_output(api, monkeypatch, "watch", study_id)


def test_show_best_and_watch_name_the_metric_of_a_single_objective(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = definition("rmse", 3) | {"objective": {"metric": "val_rmse"}}
    study = run_to_the_end(api, api.post("/v1/studies", json=body).json()["id"])
    best = study["best_trial"]
    value = f"val_rmse {best['value']:.6g}"

    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert f"best trial #{best['number']}: {value}, non-zero" in shown, shown
    said = cli_output(api, monkeypatch, "best", study["id"])
    assert f"trial #{best['number']} {value} non-zero" in said, said
    watched = watch_log(api, monkeypatch, study["id"])
    assert f"best {value} (#{best['number']})" in watched, watched


def test_the_watch_names_each_objective_of_a_front(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    front = {"objectives": ["val_rmse", "n_inputs"], "pruner": {"type": "none"}}
    body = definition("front", 3) | front
    study = run_to_the_end(api, api.post("/v1/studies", json=body).json()["id"])
    best = study["best_trial"]
    rmse, inputs = best["values"]
    watched = watch_log(api, monkeypatch, study["id"])
    assert f"best val_rmse={rmse:.6g} n_inputs={inputs:.6g} (#{best['number']})" in watched
