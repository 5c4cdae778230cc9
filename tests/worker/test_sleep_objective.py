"""The sleep objective (what benchmarks run instead of training) and how a worker selects it."""

from __future__ import annotations

import optuna
import pytest
from pydantic import ValidationError

from bench import sleep_objective
from regtune.service.settings import Settings
from regtune.service.spec.definition import StudySpec
from regtune.worker import objective
from regtune.worker.search import load_factory

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
    with pytest.raises(ValueError, match="not a callable"):
        load_factory("bench.sleep_objective:TARGET")
    with pytest.raises(ImportError):
        load_factory("regtune.worker.no_such_module:make_objective")
    with pytest.raises(ValidationError, match="objective_factory"):
        Settings(objective_factory="not a path")


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
