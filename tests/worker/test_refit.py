"""The refit: the best configuration trained on every non-test row, or (refit: false) the
trial's own folds as before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import data
from regtune.worker.refit import best_fit, refit_epochs
from regtune.worker.trainers.config import EarlyStop, TrainConfig

PARAMS = {"lambda": 1e-2, "l1_ratio": 0.5}


def spec(**parts: Any) -> StudySpec:
    definition: dict[str, Any] = {"name": "r", "dataset": {"builtin": "diabetes"}} | parts
    return resolve_task(StudySpec.model_validate(definition))


def rows(s: StudySpec) -> tuple[int, int]:
    dataset = data.load(s.dataset.model_dump(mode="json"))
    rest, test = data.split_test(
        dataset, test_fraction=s.validation.test_fraction, seed=s.validation.split_seed
    )
    return len(rest), len(test)


@pytest.mark.parametrize("validation", [{"holdout": 0.2}, {"folds": 3}])
def test_the_refit_trains_on_every_non_test_row(validation: dict[str, Any]) -> None:
    s = spec(validation=validation)
    fitted = best_fit(s, PARAMS, {})
    n_rest, n_test = rows(s)
    assert fitted.refit and fitted.train_rows == n_rest
    assert len(fitted.result.models) == 1
    assert len(fitted.splits.folds[0].y_test) == n_test
    assert np.isfinite(fitted.result.test_metrics["test_r2"])


def test_refit_false_keeps_the_trials_own_folds() -> None:
    s = spec(validation={"folds": 3}, refit=False)
    fitted = best_fit(s, PARAMS, {})
    n_rest, _ = rows(s)
    assert not fitted.refit
    assert len(fitted.result.models) == 3
    assert fitted.train_rows < n_rest


def test_a_minibatch_refit_runs_the_epochs_early_stopping_chose() -> None:
    s = spec(
        model={"kind": "mlp", "hidden_layers": [8]},
        training={"max_epochs": 40, "early_stopping": {"patience": 2}},
    )
    fitted = best_fit(s, PARAMS, {"best_epoch": 4, "epochs_run": 6})
    assert fitted.epochs == 4
    assert fitted.result.epochs_run == 4
    assert not fitted.result.stopped_early


def test_without_restoring_the_best_epoch_the_refit_runs_every_epoch_the_trial_did() -> None:
    config = TrainConfig(task="regression", n_out=1, early_stopping=EarlyStop(3, 0.0, False))
    assert refit_epochs(config, {"best_epoch": 4, "epochs_run": 7}) == 7
    assert refit_epochs(TrainConfig(task="regression", n_out=1), {"epochs_run": 9}) == 9
