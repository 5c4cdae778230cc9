"""Admission counts what the exact solver really does (issue 22, items 1 and 2): ``max_iter``
iterations of a cost that grows with rows × features × classes, one iteration small enough for
a stop to be seen within a second, and the learning-curve rows ``max_iter / report_every``
writes. Each is refused with the field to change. Fast: the rules as the API calls them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from regtune.service.settings import Settings
from regtune.service.spec import admission, cost
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
    return {p.path: p.rule for p in admission.problems(study, cost.shape_of(study), budget)}


def test_the_issues_89_hour_study_is_refused_on_max_iter() -> None:
    study = spec(WIDE, tol=1e-12, max_iter=1_000_000, report_every=100_000)
    found = problems(study)
    assert "training.max_iter" in found
    assert "1,000,000 iterations" in found["training.max_iter"]
    assert "50 outputs" in found["training.max_iter"]  # the per-iteration cost, by its parts


def test_max_iter_is_what_is_counted_not_max_epochs() -> None:
    few = spec(WIDE, max_iter=200, report_every=25, lambda_path=None)  # a path's Newton: below
    assert problems(few) == {}
    many = spec(WIDE, max_iter=200_000, report_every=200, lambda_path=None)
    assert "training.max_iter" in problems(many)


def test_one_iteration_over_the_stop_bound_is_refused() -> None:
    study = spec(WIDE, max_iter=10, report_every=5, lambda_path=None)
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


MINIBATCH_SETTINGS: list[dict[str, Any]] = [
    {"optimizer": "adam", "batch_size": 128, "early_stopping": {"restore_best": True}},
    {"optimizer": "sgd", "batch_size": 1, "early_stopping": None},
    {"optimizer": "adam", "batch_size": "full", "early_stopping": {"restore_best": False}},
]
"""What the minibatch trainer reads and the exact solver, full-batch, does not."""


@pytest.mark.parametrize(
    "dataset",
    [{"builtin": "breast_cancer"}, {"builtin": "digits"}, {"builtin": "diabetes"}, WIDE],
    ids=["binary", "multiclass", "regression", "wide"],
)
@pytest.mark.parametrize("lambda_path", [None, {}], ids=["trial", "path"])
def test_the_exact_solver_is_costed_by_what_it_holds_not_by_minibatch_settings(
    dataset: dict[str, Any], lambda_path: dict[str, Any] | None
) -> None:
    """Was: Adam's two state copies, restore_best's copy and a batch of batch_size rows (128 by
    default) were counted, settings the exact solver never reads, and none of its full batch.
    Now its estimate is the same whatever they say, and counts what it holds of every training
    row: the cross-entropy's design (rows × (features + 1), float64, in each fold), least
    squares' rows and their centered copy as the Gram matrix is made."""
    studies = [
        spec(dataset, lambda_path=lambda_path, **settings) for settings in MINIBATCH_SETTINGS
    ]
    shape = cost.shape_of(studies[0])
    estimates = [cost.estimate(study, shape) for study in studies]
    assert all(e == estimates[0] for e in estimates), [e.memory for e in estimates]
    one = estimates[0]
    features = shape.features + 1
    rows = one.train_rows * features * 8
    held = 2 * rows if shape.classes == 1 else one.members * rows
    assert one.memory["activations"] >= held, (one.memory, held)


def test_a_path_over_many_classes_counts_newton_over_its_unknowns_alone() -> None:
    """A cross-entropy λ path solves each point by Newton's method on the support when it has
    at most 400 unknowns, its Hessian formed over those unknowns (was over every class × column
    of the support first: 50 classes over 351 columns of 16,000 rows, 6.1 GiB, which refused
    this study): the design's columns and the unknowns' weighted columns of every training row,
    about 150 MB here, less than a fold's setup copies (256 MB), gone before it: nothing beyond
    them, and the study fits, as it does without the path."""
    study = spec(WIDE, max_iter=200, report_every=25)
    assert problems(study) == {}
    assert cost.estimate(study, cost.shape_of(study)).memory["path"] == 0
    assert problems(spec(WIDE, max_iter=200, report_every=25, lambda_path=None)) == {}


def test_newton_unknowns_repeat_the_workers_bound() -> None:
    """``cost.NEWTON_UNKNOWNS`` repeats the worker's bound (the API does not import torch)."""
    from regtune.worker.trainers.newton import MAX_UNKNOWNS

    assert cost.NEWTON_UNKNOWNS == MAX_UNKNOWNS
