"""Non-convergence is visible (issue 22, item 8): every exact-solver trial stores ``converged``
and ``iterations`` (its slowest fold's) as user attributes, which ``GET
/v1/studies/{id}/trials/{n}`` shows, so a trial cut short by ``max_iter`` is told apart from a
solved one."""

from __future__ import annotations

import copy
from typing import Any

import optuna
import pytest

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.worker.objective import make_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)


def run(max_iter: int, *, solver: str = "exact") -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body.update(
        name="convergence",
        task="binary",
        dataset={"builtin": "breast_cancer"},
        search_space={"lambda": 1e-3, "l1_ratio": 0.5},
        training={"solver": solver, "max_iter": max_iter, "report_every": 5, "max_epochs": 2},
        pruner={"type": "none"},
    )
    spec = StudySpec.model_validate(body)
    study = optuna.create_study()
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=1)
    return study.trials[0].user_attrs


@pytest.mark.parametrize(("max_iter", "converged"), [(3, False), (10_000, True)])
def test_exact_trials_store_whether_they_converged(max_iter: int, converged: bool) -> None:
    attrs = run(max_iter)
    assert attrs["converged"] is converged
    assert attrs["iterations"] == max_iter if not converged else 3 < attrs["iterations"] < max_iter
