"""A fused pass's members are logged as they end, in the words, level and logger Optuna's
``optimize`` gives a trial run alone: ``Study.tell``, which ends each member, logs nothing (was:
a ``started (fused)`` line per member and none for its end)."""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, FloatDistribution

from regtune.service.store.optuna_db.internals.trial_lines import log_failed, log_told
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.worker.test_fused_trials import mlp_study

ENDED = re.compile(
    r"^Trial (\d+) (finished with value: \{'val_loss': .+\} and parameters: \{.+\}\."
    r"|pruned\. pruned at epoch \d+$)"
)
N_TRIALS = 8


def ends(caplog: pytest.LogCaptureFixture) -> dict[int, list[tuple[str, str, str]]]:
    """The lines of each trial's end: (logger, level, what: finished or pruned), by number."""
    found: dict[int, list[tuple[str, str, str]]] = {}
    for record in caplog.records:
        matched = ENDED.match(record.getMessage())
        if matched:
            what = "pruned" if matched.group(2).startswith("pruned") else "finished"
            found.setdefault(int(matched.group(1)), []).append(
                (record.name, record.levelname, what)
            )
    return found


def run(api: TestClient, caplog: pytest.LogCaptureFixture, **training: Any) -> dict[str, Any]:
    definition = mlp_study(f"lines-{training['fused_trials']}", N_TRIALS, **training)
    definition["budget"]["max_parallel"] = 4
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    caplog.clear()
    # Optuna at its own default, INFO, as a service runs it: other test modules quiet it
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="optuna"):
        assert contextvars.copy_context().run(Worker().run, max_trials=N_TRIALS) == N_TRIALS
    study_id = created.json()["id"]
    trials = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 50}).json()["items"]
    return {"trials": {t["number"]: t for t in trials}, "ends": ends(caplog)}


def test_every_fused_member_s_end_is_logged_as_a_trial_run_alone_is(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps()
    alone, fused = (run(api, caplog, fused_trials=k) for k in (1, 4))
    for ran in (alone, fused):
        assert sorted(ran["ends"]) == sorted(ran["trials"]) == list(range(N_TRIALS)), ran
        for number, lines in ran["ends"].items():
            state = ran["trials"][number]["state"]
            assert [what for _, _, what in lines] == [
                {"COMPLETE": "finished", "PRUNED": "pruned"}[state]
            ], (number, state, lines)
    said_alone = {line for lines in alone["ends"].values() for line in lines}
    said_fused = {line for lines in fused["ends"].values() for line in lines}
    assert {what for *_, what in said_fused} == {"finished", "pruned"}, said_fused
    # the same logger and level for each kind of end the alone run has (Optuna's pruned line,
    # which it may not have, is held to the contract below)
    assert said_alone and said_fused >= said_alone, (said_alone, said_fused)


def test_a_told_trial_is_logged_as_optimize_logs_one(caplog: pytest.LogCaptureFixture) -> None:
    """Contract with Optuna: ``log_told`` says what ``optimize`` says, through its loggers, of
    a COMPLETE and of a PRUNED trial."""
    x: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}

    def objective(trial: optuna.Trial) -> float:
        if trial.number % 2:
            raise optuna.TrialPruned("pruned at epoch 3")
        return float(trial.suggest_float("x", 0, 1))

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_metric_names(["val_loss"])
    with caplog.at_level(logging.INFO, logger="optuna.study"):
        caplog.clear()  # the study's creation
        study.optimize(objective, n_trials=2)
        optimized = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
        caplog.clear()
        for _ in range(2):
            trial = study.ask(x)
            try:
                told = study.tell(trial, objective(trial))
            except optuna.TrialPruned as pruned:  # as a fused member ends
                told = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                log_told(study, told, pruned=str(pruned))
            else:
                log_told(study, told)
        logged = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert (
        [line[:2] for line in logged]
        == [line[:2] for line in optimized]
        == [
            ("optuna.study.study", "INFO"),
            ("optuna.study._optimize", "INFO"),
        ]
    )
    numbers = re.compile(r"\d+(\.\d+)?(e-?\d+)?")
    assert [numbers.sub("#", said) for *_, said in logged] == [
        numbers.sub("#", said) for *_, said in optimized
    ]


FAILED = re.compile(r"^Trial (\d+) failed with parameters: \{.+\} because of the following error")


def test_each_member_of_a_failed_pass_is_logged_as_a_failed_trial(
    apps: Apps, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fused pass's error ends its members, each told FAIL: they had no line of their own
    (``tell`` logs none), only the pass's traceback. Now each has Optuna's, the first with the
    traceback."""
    import regtune.worker.trainers.fused as trainers

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the pass broke")

    monkeypatch.setattr(trainers, "train_fused", broken)
    api = apps()
    definition = mlp_study("failing", 4, fused_trials=4)
    definition["budget"].update(max_parallel=4, max_retries=0)
    definition["search_space"]["batch_size"] = {"choices": [64]}  # one group: one error
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    caplog.clear()
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="optuna"):
        contextvars.copy_context().run(Worker().run, max_trials=4)

    lines = [r for r in caplog.records if FAILED.match(r.getMessage())]
    trials = api.get(f"/v1/studies/{created.json()['id']}/trials").json()["items"]
    numbers = sorted(int(m.group(1)) for r in lines if (m := FAILED.match(r.getMessage())))
    assert numbers == sorted(t["number"] for t in trials)
    assert len(lines) == 4, [r.getMessage() for r in lines]
    assert all(r.getMessage().endswith("RuntimeError('the pass broke').") for r in lines)
    assert {(r.name, r.levelname) for r in lines} == {("optuna.study._optimize", "WARNING")}
    assert [r.exc_info is not None for r in lines] == [True, False, False, False]


def test_a_failed_trial_is_logged_as_optimize_logs_one(caplog: pytest.LogCaptureFixture) -> None:
    """Contract with Optuna: ``log_failed`` says what ``optimize`` says of a trial that raised,
    through its logger, with the traceback."""
    x: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise RuntimeError("broke")

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with caplog.at_level(logging.INFO, logger="optuna"):
        caplog.clear()
        study.optimize(objective, n_trials=1, catch=(RuntimeError,))
        optimized = [r for r in caplog.records if FAILED.match(r.getMessage())]
        caplog.clear()
        trial = study.ask(x)
        try:
            objective(trial)
        except RuntimeError as exc:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log_failed(trial, exc)
        logged = [r for r in caplog.records if FAILED.match(r.getMessage())]
    numbers = re.compile(r"\d+(\.\d+)?(e-?\d+)?")
    assert [(r.name, r.levelname, numbers.sub("#", r.getMessage())) for r in logged] == [
        (r.name, r.levelname, numbers.sub("#", r.getMessage())) for r in optimized
    ]
    assert len(logged) == 1 and logged[0].exc_info is not None
