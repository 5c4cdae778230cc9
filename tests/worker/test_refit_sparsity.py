"""The refit keeps ``objective.max_nonzero`` and the saved model's own sparsity is reported
(issue 22, item 5: the best trial had 5 non-zero weights, the refit model 6, and nothing said).

On diabetes at λ = 0.028 (lasso) the trial's model keeps 7 weights and the refit on every
non-test row wakes an 8th."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker.objective import make_objective
from regtune.worker.refit import best_fit

PARAMS = {"lambda": 0.028, "l1_ratio": 1.0}


def spec(**parts: Any) -> StudySpec:
    definition: dict[str, Any] = {
        "name": "r",
        "dataset": {"builtin": "diabetes"},
        "validation": {"holdout": 0.2},  # the trial's model below is the holdout's
    } | parts
    return resolve_task(StudySpec.model_validate(definition))


def test_the_refit_raises_lambda_to_keep_max_nonzero() -> None:
    trial = best_fit(spec(refit=False), PARAMS, {})
    plain = best_fit(spec(), PARAMS, {})
    assert trial.sparsity == (7, 10)
    assert plain.sparsity == (8, 10)  # more rows, one more weight: over a limit of 7

    kept = best_fit(spec(objective={"max_nonzero": 7}), PARAMS, {})

    assert kept.refit and kept.sparsity[0] <= 7
    assert kept.refit_lambda is not None and PARAMS["lambda"] < kept.refit_lambda < 0.056
    assert kept.note is not None and "max_nonzero 7" in kept.note


def test_within_the_limit_the_refit_is_untouched() -> None:
    kept = best_fit(spec(objective={"max_nonzero": 8}), PARAMS, {})
    assert kept.sparsity == (8, 10)
    assert kept.refit_lambda is None and kept.note is None


def test_a_minibatch_refit_over_the_limit_saves_the_trials_own_model() -> None:
    study = spec(
        training={"solver": "minibatch", "max_epochs": 5},
        search_space={"lambda": 1e-6, "l1_ratio": 0.0, "learning_rate": 0.01},
        objective={"max_nonzero": 3},
    )
    kept = best_fit(study, {}, {"epochs_run": 5})
    assert not kept.refit
    assert kept.note is not None and "trial's own models" in kept.note


def test_a_trial_is_feasible_only_when_its_folds_mean_is_within_max_nonzero() -> None:
    """At λ 0.0639 diabetes' five lasso fold models keep 5.6 weights on average: over a limit
    of 5 (an integer's truncation, 5, passed it), and the value multi-objective studies use."""
    lasso = spec(
        search_space={
            "lambda": {"low": 1e-3, "high": 1.0, "log": True},
            "l1_ratio": 1.0,
            "relax": 0,
        },
        validation={"folds": 5},
        training={"lambda_path": None},
        pruner={"type": "none"},
        objective={"max_nonzero": 5},
    )
    study = optuna.create_study()
    for lam in (0.0639, 0.0871):
        study.enqueue_trial({"lambda": lam})
    study.optimize(make_objective(lasso, stop_check=lambda: None), n_trials=2)
    over, within = (t.user_attrs for t in study.trials)
    assert over["n_nonzero"] == 5.6 and over["feasible"] is False
    assert within["n_nonzero"] == 4.4 and within["feasible"] is True
    assert [t.system_attrs["constraints:max_nonzero"] for t in study.trials] == [
        pytest.approx(0.6),
        pytest.approx(-0.6),
    ]
