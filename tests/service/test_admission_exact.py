"""Admission counts what the exact solver really does (issue 22, items 1 and 2): ``max_iter``
iterations of a cost that grows with rows × features × classes, one iteration small enough for
a stop to be seen within a second, and the learning-curve rows ``max_iter / report_every``
writes. Each is refused with the field to change. Fast: the rules as the API calls them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from regtune.service.settings import Settings
from regtune.service.spec import cost
from regtune.service.spec.definition import EXAMPLE, StudySpec

BUDGET = cost.Budget.from_settings(Settings())
WIDE = {"synthetic": {"kind": "classification", "n_samples": 20_000, "n_features": 1_000,
                      "n_informative": 6,
                      "n_classes": 50}}  # fmt: skip


def spec(dataset: dict[str, Any], **training: Any) -> StudySpec:
    body = copy.deepcopy(EXAMPLE)
    body["name"] = "exact"
    body["dataset"] = dataset
    body["training"] = {"solver": "exact", **training}
    return StudySpec.model_validate(body)


def problems(study: StudySpec, budget: cost.Budget = BUDGET) -> dict[str, str]:
    return {p.path: p.rule for p in cost.problems(study, cost.shape_of(study), budget)}


def test_the_issues_89_hour_study_is_refused_on_max_iter() -> None:
    study = spec(WIDE, tol=1e-12, max_iter=1_000_000, report_every=100_000)
    found = problems(study)
    assert "training.max_iter" in found
    assert "1,000,000 iterations" in found["training.max_iter"]
    assert "50 outputs" in found["training.max_iter"]  # the per-iteration cost, by its parts


def test_max_iter_is_what_is_counted_not_max_epochs() -> None:
    few = spec(WIDE, max_iter=200, report_every=25)
    assert problems(few) == {}
    many = spec(WIDE, max_iter=200_000, report_every=200)
    assert "training.max_iter" in problems(many)


def test_one_iteration_over_the_stop_bound_is_refused() -> None:
    study = spec(WIDE, max_iter=10, report_every=5)
    budget = cost.Budget.from_settings(Settings(max_iteration_gflop=1.0))
    assert "training.solver" in problems(study, budget)
    assert problems(study) == {}  # 3.8 GFLOP fits the default bound


@pytest.mark.parametrize(
    ("training", "field"),
    [
        ({"tol": 1e-12, "max_iter": 1_000_000, "report_every": 1}, "training.report_every"),
        ({"max_iter": 1_000_000, "report_every": 25}, "training.report_every"),
    ],
)
def test_a_learning_curve_row_per_iteration_is_refused(
    training: dict[str, Any], field: str
) -> None:
    found = problems(spec({"builtin": "diabetes"}, **training))
    assert field in found
    assert "REGTUNE_MAX_REPORTS_PER_TRIAL" in found[field]


def test_the_default_exact_definition_fits() -> None:
    assert problems(spec({"builtin": "breast_cancer"})) == {}
    assert problems(spec({"builtin": "diabetes"}, max_iter=50_000, report_every=25)) == {}
