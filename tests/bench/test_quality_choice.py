"""``bench.quality``'s estimator check: regtune's refit at the configuration scikit-learn's CV
estimator chose is scikit-learn's model, so a difference left is the choice, not the solver."""

from __future__ import annotations

import math

import pytest

from bench.quality import refit_at, run_sklearn


@pytest.mark.parametrize(
    ("dataset", "count", "key", "tolerance"),
    [
        ("diabetes", 3, "test", 1e-4),  # ElasticNetCV, l1_ratio 0.5: λ and ρ both converted
        ("sparse", 6, "test", 1e-4),  # LassoCV
        ("wine", 3, "test_loss", 1e-3),  # LogisticRegressionCV (saga to its tolerance)
    ],
)
def test_regtune_at_scikit_learns_choice_is_scikit_learns_model(
    dataset: str, count: int, key: str, tolerance: float
) -> None:
    theirs = run_sklearn(dataset, 0, count, quick=False)
    ours = refit_at(dataset, 0, count, theirs["chosen"])
    assert theirs["chosen"]["lambda"] > 0 and 0 <= theirs["chosen"]["l1_ratio"] <= 1
    assert math.isclose(ours[key], theirs[key], abs_tol=tolerance), (ours, theirs)
