"""A trial's accuracy is its folds' shares right averaged exactly: folds right on as many rows
in all score the same float, whichever folds got which (breast cancer's Pareto front kept trial
10, 0.9714285714285715 at 22.2 weights, beside trial 22, 0.9714285714285713 at 19.2: both 442
rows right of 455)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

from regtune.worker.evaluation import mean_of
from tests.inprocess import Apps, run_to_the_end

ROWS = [91] * 5


def _folds(right: list[int]) -> list[dict[str, float]]:
    """Each fold's metrics: accuracy ``right``/91, and a loss of as many digits."""
    return [{"accuracy": r / 91, "loss": 1 / r} for r in right]


def test_folds_as_right_in_all_average_to_one_float_whatever_their_order() -> None:
    means = {
        mean_of("val", _folds(list(right)), rows=ROWS)["val_accuracy"]
        for counts in ([89, 87, 89, 87, 90], [89, 88, 89, 87, 89])
        for right in itertools.permutations(counts)
    }
    assert means == {float(Fraction(442, 455))}
    loss = [1 / r for r in (89, 87, 89, 87, 90)]
    assert {
        mean_of("val", _folds(list(right)), rows=ROWS)["val_loss"]
        for right in itertools.permutations([89, 87, 89, 87, 90])
    } == {math.fsum(loss) / 5}


DEFINITION: dict[str, Any] = {
    "name": "accuracy-front",
    "dataset": {"builtin": "breast_cancer"},
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-4, "high": 1.0, "log": True},
        "l1_ratio": {"low": 0.5, "high": 1.0},
        "relax": 0.0,
    },
    "objectives": ["val_accuracy", "n_nonzero"],
    "sampler": {"type": "tpe", "seed": 0},
    "budget": {"n_trials": 32},
}


def test_no_trial_on_the_pareto_front_is_beaten_but_for_rounding(apps: Apps) -> None:
    api = apps()
    created = api.post("/v1/studies", json=DEFINITION)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"], timeout=300)
    trials = api.get(f"/v1/studies/{study['id']}/trials", params={"limit": 100}).json()["items"]
    accuracies = sorted({t["values"][0] for t in trials if t["values"] is not None})
    assert len(accuracies) > 10
    assert all(b - a > 1e-9 for a, b in itertools.pairwise(accuracies))  # one float per share
    front = [t["values"] for t in study["pareto_front"]]
    for (accuracy, weights), (other, fewer) in itertools.permutations(front, 2):
        assert not (math.isclose(accuracy, other, abs_tol=1e-12) and fewer < weights), front
