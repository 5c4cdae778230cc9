"""An API process and ``regtune dashboard`` import Optuna's importance module without
scikit-learn (``service/importance.py``): PED-ANOVA, the importances they ask for, still works,
and scikit-learn stays importable for whatever else needs it."""

from __future__ import annotations

import sys

from tests.support import Processes

PROBE = """
import sys
import optuna
from regtune.service.importance import optuna_importance

importance = optuna_importance()
assert "sklearn" not in sys.modules, "imported scikit-learn"
import regtune.service.api.app  # the report's figures: the same module, no scikit-learn either
assert "sklearn" not in sys.modules, "the app imported scikit-learn"
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2 + 0.01 * t.suggest_float("y", 0, 1), 30)
found = importance.get_param_importances(study)
assert set(found) == {"x", "y"} and found["x"] > found["y"], found
import sklearn.ensemble  # still there for the worker's datasets and anything else
print("ok")
"""


def test_optuna_importance_needs_no_scikit_learn_and_leaves_it_importable(
    processes: Processes,
) -> None:
    done = processes.run([sys.executable, "-c", PROBE])  # a fresh process's imports
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
