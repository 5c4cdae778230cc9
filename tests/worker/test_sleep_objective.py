"""The sleep objective (what benchmarks run instead of training) and how a worker selects it."""

from __future__ import annotations

import optuna
import pytest
from pydantic import ValidationError

from bench import sleep_objective
from regtune.service.errors import InvalidSettings
from regtune.service.settings import Settings
from regtune.service.spec.definition import StudySpec
from regtune.worker import objective
from regtune.worker.search import load_factory
from tests.support import Processes, process_env, regtune

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _spec(**extra: object) -> StudySpec:
    return StudySpec.model_validate(
        {
            "name": "sleepy",
            "dataset": {"builtin": "diabetes"},
            "task": "regression",
            "search_space": {
                "lambda": {"low": 1e-5, "high": 10.0, "log": True},
                "l1_ratio": {"low": 0.0, "high": 1.0},
                "dropout": 0.1,
            },
            "training": {"max_epochs": 4},
            **extra,
        }
    )


def test_the_factory_setting_names_a_function() -> None:
    assert load_factory("regtune.worker.objective:make_objective") is objective.make_objective
    assert (
        load_factory(
            Settings(objective_factory="bench.sleep_objective:make_objective").objective_factory
        )
        is sleep_objective.make_objective
    )
    with pytest.raises(ValidationError, match="objective_factory"):
        Settings(objective_factory="not a path")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("bench.sleep_objective:TARGET", "module 'bench.sleep_objective' has no function 'TARGET'"),
        (
            "regtune.worker.no_such_module:make_objective",
            "its module cannot be imported (ModuleNotFoundError: No module named "
            "'regtune.worker.no_such_module')",
        ),
    ],
)
def test_a_factory_that_is_not_there_names_the_setting(path: str, why: str) -> None:
    with pytest.raises(InvalidSettings) as refused:
        load_factory(path)
    [problem] = refused.value.fields
    assert problem.path == "REGTUNE_OBJECTIVE_FACTORY"
    assert problem.rule == (
        f"must name a function as module:function that the worker can import: {why}, got {path!r}"
    )


def test_a_worker_given_no_factory_says_so_in_one_line(
    processes: Processes, sqlite_url: str
) -> None:
    """Was a traceback (``ModuleNotFoundError: No module named 'nope'``) once it had migrated."""
    env = process_env(sqlite_url, REGTUNE_OBJECTIVE_FACTORY="nope:make_objective")
    result = processes.run(regtune("worker"), env=env, timeout=180)

    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: REGTUNE_OBJECTIVE_FACTORY: must name a function as module:function that the "
        "worker can import: its module cannot be imported (ModuleNotFoundError: No module "
        "named 'nope'), got 'nope:make_objective'"
    ], result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def test_it_reports_every_epoch_checks_stop_and_has_its_optimum_at_target() -> None:
    checks: list[int] = []
    spec = _spec()
    run = sleep_objective.make_objective(
        spec, stop_check=lambda: checks.append(1), trial_seconds=0.0
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(run, n_trials=5)
    assert len(checks) == 5 * 4
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
        assert trial.intermediate_values[4] == pytest.approx(trial.value)
        assert set(trial.params) == {"lambda", "l1_ratio"}
    optimum = {"lambda": 10 ** (-5 + 0.3 * 6), "l1_ratio": 0.3, "dropout": 0.1}
    assert sleep_objective.score(spec, optimum) == pytest.approx(0.0, abs=1e-12)


def test_a_pruner_stops_it_and_a_stop_check_aborts_it() -> None:
    spec = _spec()
    run = sleep_objective.make_objective(spec, stop_check=lambda: None, trial_seconds=0.0)
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=-1.0))
    study.optimize(run, n_trials=2)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert all(len(t.intermediate_values) == 1 for t in study.trials)

    def cancelled() -> None:
        raise RuntimeError("cancelled")

    stopping = sleep_objective.make_objective(spec, stop_check=cancelled, trial_seconds=0.0)
    with pytest.raises(RuntimeError, match="cancelled"):
        stopping(optuna.create_study().ask())
