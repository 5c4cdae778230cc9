"""What the CLI and the API's errors say to a person: the next command to type, not only the
route; words that fit the study's state; a page that says where the next one starts."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_output, cli_result, run_to_the_end
from tests.service.test_client_optuna import STUDY


def test_trials_take_a_state_in_any_case_and_say_where_the_next_page_starts(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": "pages"}).json()
    study = run_to_the_end(api, created["id"])
    done = study["counts"]["COMPLETE"]
    assert done == 3
    shown = cli_output(
        api, monkeypatch, "trials", created["id"], "--state", "complete", "--limit", "2"
    )
    assert "2 of 3 trials (the next ones: --offset 2)" in shown
    last = cli_output(
        api, monkeypatch, "trials", created["id"], "--state", "Complete", "--offset", "2"
    )
    assert "1 of 3 trials" in last and "--offset" not in last
    for command in ("show", "best"):  # the trial's and the refit's metrics in one order
        said = cli_output(api, monkeypatch, command, created["id"])
        for label in ("test (trial):", "test (refit model):"):
            parts = said.split(label)[1].split()
            names = [part.split("=")[0] for part in parts if "=" in part][:3]
            assert names == ["loss", "r2", "rmse"], (command, label, said)


def test_a_cancelled_study_has_no_best_model_and_not_yet_one(api: TestClient) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": "stopped"}).json()  # no worker
    assert api.post(f"/v1/studies/{created['id']}/cancel").status_code == 200
    answer = api.get(f"/v1/studies/{created['id']}/best-model")
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert "has no best model (status cancelled)" in message and "yet" not in message
    queued = api.post("/v1/studies", json=STUDY | {"name": "waiting"}).json()
    waiting = api.get(f"/v1/studies/{queued['id']}/best-model").json()["error"]["message"]
    assert "has no best model yet (status queued)" in waiting


def test_best_of_a_study_whose_trials_all_broke_its_constraint_says_so(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A completed study whose every COMPLETE trial has more non-zero weights than
    ``objective.max_nonzero`` has no best trial: ``regtune best`` says why, not "yet", and
    fails."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial
    from sqlalchemy import update

    from regtune.service.store.db import transaction
    from regtune.service.store.scheduling.retries import get_storage
    from regtune.service.store.tables import StudyRow

    definition = STUDY | {"name": "too-dense", "objective": {"max_nonzero": 1}}
    created = api.post("/v1/studies", json=definition).json()  # no worker: trials added here
    study = optuna.load_study(study_name=created["optuna_study_name"], storage=get_storage())
    for lam in (1e-4, 1e-3, 1e-2):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=0.3,
                params={"lambda": lam},
                distributions={"lambda": FloatDistribution(1e-4, 1.0, log=True)},
                user_attrs={"n_nonzero": 8, "feasible": False},
            )
        )
    with transaction() as session:
        session.execute(
            update(StudyRow).where(StudyRow.id == created["id"]).values(status="completed")
        )
    ended = cli_result(api, monkeypatch, "best", created["id"])
    said = " ".join(ended.output.split())
    assert ended.exit_code == 1 and "yet" not in said, said  # nothing to deploy: a failure
    assert "none of its 3 COMPLETE trials meets objective.max_nonzero" in said, said
    stopped = api.post("/v1/studies", json=STUDY | {"name": "stopped-early"}).json()
    assert api.post(f"/v1/studies/{stopped['id']}/cancel").status_code == 200
    ended = cli_result(api, monkeypatch, "best", stopped["id"])
    said = " ".join(ended.output.split())
    assert ended.exit_code == 1 and "has no completed trial (status cancelled)" in said, said


def test_an_unknown_dataset_id_names_the_command_that_uploads_one(api: TestClient) -> None:
    answer = api.post("/v1/studies", json=STUDY | {"dataset": {"id": "deadbeef"}})
    assert answer.status_code == 422
    assert "regtune datasets upload" in answer.json()["error"]["message"]


def test_show_says_which_trial_of_a_front_it_calls_best(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two objectives: the study's best trial is one point of the Pareto front, by the first."""
    definition = STUDY | {
        "name": "front",
        "objectives": ["val_loss", "n_nonzero"],
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}, "l1_ratio": 1.0},
        "pruner": {"type": "none"},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    best = study["best_trial"]
    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert (
        f"best trial #{best['number']} (the front's best val_loss; the whole front below): "
        f"val_loss=" in shown
    ), shown
    assert "Pareto front" in shown
    assert "test (trial): loss=" in shown  # its test metrics, as any best trial's
    said = cli_output(api, monkeypatch, "best", study["id"])
    assert (
        f"trial #{best['number']} (the front's best val_loss; regtune show {study['id']}: the "
        "front) val_loss="
    ) in said, said
    assert "n_nonzero=" in said


def test_the_pareto_table_shows_an_objective_once(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``n_inputs`` among the objectives the front's table has one column of it (was
    ``trial │ val_loss │ n_inputs │ n_inputs │ params``); with others it is added after them."""
    space = {"lambda": {"low": 1e-3, "high": 1.0, "log": True}, "l1_ratio": 1.0}
    for objectives, columns in (
        (["val_loss", "n_inputs"], "┃ trial ┃ val_loss ┃ n_inputs ┃ params ┃"),
        (["val_loss", "n_nonzero"], "┃ trial ┃ val_loss ┃ n_nonzero ┃ n_inputs ┃ params ┃"),
    ):
        definition = STUDY | {
            "name": f"front-{objectives[1]}",
            "objectives": objectives,
            "search_space": space,
        }
        created = api.post("/v1/studies", json=definition)
        assert created.status_code == 201, created.text
        study = run_to_the_end(api, created.json()["id"])
        shown = cli_output(api, monkeypatch, "show", study["id"])
        assert columns in shown, shown
        front = study["pareto_front"][0]
        cells = [str(front["number"]), *(f"{v:.6g}" for v in front["values"])]
        if "n_inputs" not in objectives:
            cells.append(f"{front['user_attrs']['n_inputs']:.6g}")
        assert "│ " + " │ ".join(cells) + " │ lambda" in shown, shown


def test_a_study_without_refit_calls_its_saved_model_no_refit(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``refit: false`` the saved model is the best trial's own, retrained alone: `show`
    and `best` name its test metrics as the saved model's, not a refit model's."""
    created = api.post("/v1/studies", json=STUDY | {"name": "own", "refit": False}).json()
    run_to_the_end(api, created["id"])
    for command in ("show", "best"):
        said = cli_output(api, monkeypatch, command, created["id"])
        assert "test (saved model): loss=" in said and "refit model" not in said, said


def test_every_command_is_one_line_in_the_help_s_list() -> None:
    """``regtune --help`` lists a command by its docstring's first paragraph: submit's and
    watch's ran on past a line break mid-sentence ("2 if cancelled;" / "Ctrl-C stops watching"),
    however wide the terminal."""
    from typer.testing import CliRunner

    from regtune.service.cli.app import app

    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout
    rows = shown.split("Commands")[1].splitlines()[1:-1]
    assert rows and all(not row.startswith("│  ") for row in rows), shown
    assert any("submit     Submit a study definition" in row for row in rows)


def test_show_of_a_study_with_nothing_searched_ends_its_best_trial_line_cleanly(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every knob fixed: the best trial has no parameters, and the line ended in ", "."""
    fixed = STUDY | {"name": "fixed", "search_space": {"lambda": 0.05, "l1_ratio": 1.0}}
    created = api.post("/v1/studies", json=fixed | {"budget": {"n_trials": 1}}).json()
    study = run_to_the_end(api, created["id"])
    shown = cli_output(api, monkeypatch, "show", created["id"])
    n = study["best_trial"]["n_nonzero"]
    said = rf"best trial #0: val_loss [0-9.]+, non-zero {n:g} test \(trial\):"
    assert re.search(said, shown), shown


def test_show_of_a_study_without_trials_says_its_counts_are_none(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": "no-trials"}).json()  # no worker
    shown = cli_output(api, monkeypatch, "show", created["id"])
    assert "counts: none" in shown, shown
