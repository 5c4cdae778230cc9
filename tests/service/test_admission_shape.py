"""Admission rules that need the data: batch norm under every way of turning it on, and
stratified folds against the smallest class (issue 22, items 6 and 7).

Fast: the rules are called as the API calls them (``cost.shape_of`` + ``admission.problems``),
on the shape the store gives an upload (``datasets.smallest_class`` of its stored summary).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from regtune.service.ingest.columns import read_table
from regtune.service.settings import Settings
from regtune.service.spec import admission, cost
from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.store.repos.datasets import smallest_class
from regtune.worker import data

BUDGET = cost.Budget.from_settings(Settings())


def spec(**changes: Any) -> StudySpec:
    body = copy.deepcopy(EXAMPLE)
    body["name"] = "shape"
    body["training"]["solver"] = "minibatch"
    body.update(changes)
    return StudySpec.model_validate(body)


def fields(study: StudySpec, shape: cost.DataShape | None = None) -> list[str]:
    return [p.path for p in admission.problems(study, cost.shape_of(study, shape), BUDGET)]


@pytest.mark.parametrize(
    "batch_norm",
    [True, {"choices": [True, False]}],
    ids=["search_space.batch_norm: true", "search_space.batch_norm searched"],
)
@pytest.mark.parametrize(
    ("training", "search_space", "field"),
    [
        ({"batch_size": 1}, {}, "training.batch_size"),
        ({}, {"batch_size": {"low": 1, "high": 64, "step": 1}}, "search_space.batch_size"),
    ],
    ids=["fixed batch of one", "searched batch sizes from one"],
)
def test_batch_norm_turned_on_by_the_search_space_is_held_to_the_batch_rule(
    batch_norm: Any, training: dict[str, Any], search_space: dict[str, Any], field: str
) -> None:
    study = spec(
        model={"kind": "mlp", "hidden_layers": [8], "batch_norm": False},
        training={**EXAMPLE["training"], "solver": "minibatch", **training},
        search_space={**EXAMPLE["search_space"], **search_space, "batch_norm": batch_norm},
    )
    assert field in fields(study)


def test_search_space_batch_norm_false_leaves_batches_of_one_alone() -> None:
    study = spec(  # beside it, model.batch_norm true is a 422 (test_batch_norm_spec)
        model={"kind": "mlp", "hidden_layers": [8]},
        training={**EXAMPLE["training"], "solver": "minibatch", "batch_size": 1},
        search_space={**EXAMPLE["search_space"], "batch_norm": False},
    )
    assert "training.batch_size" not in fields(study)


def upload(counts: tuple[int, ...], task: str = "auto") -> tuple[bytes, cost.DataShape]:
    """A CSV of ``counts`` rows per class, and its shape as the store reports it."""
    rng = np.random.default_rng(0)
    labels = [label for label, count in enumerate(counts, start=1) for _ in range(count)]
    lines = ["a,b,label", *(f"{rng.normal():.6f},{rng.normal():.6f},{y}" for y in labels)]
    raw = ("\n".join(lines) + "\n").encode()
    table = read_table(raw, filename="d.csv", target="label", task=task)
    shape = cost.DataShape(
        rows=len(table.y),
        features=table.X.shape[1],
        classes=len(table.classes or []),
        smallest_class=smallest_class({"target_distribution": table.target_summary}),
    )
    return raw, shape


def test_more_folds_than_members_of_a_class_is_refused_for_an_upload() -> None:
    _, shape = upload((18, 22))
    assert shape.smallest_class == 18
    study = spec(
        dataset={"id": "0" * 32}, task="binary", validation={"folds": 20, "test_fraction": 0.2}
    )
    assert "validation.folds" in fields(study, shape)


@pytest.mark.parametrize(
    "dataset",
    [
        {"builtin": "iris"},
        {"builtin": "wine"},
        {"synthetic": {"kind": "classification", "n_samples": 60, "n_classes": 4}},
        {"synthetic": {"kind": "classification", "n_samples": 90, "n_classes": 3, "noise": 0.4}},
    ],
    ids=["iris", "wine", "synthetic", "synthetic, noisy"],
)
def test_admitted_folds_hold_every_class_and_one_more_is_refused(dataset: dict[str, Any]) -> None:
    """The boundary is the data's: the most folds admitted split with every class in every
    fold; one more fold is refused with the field to change."""
    test_fraction = 0.8
    admitted, study = 0, spec(dataset=dataset)
    for folds in range(2, 21):
        study = spec(dataset=dataset, validation={"folds": folds, "test_fraction": test_fraction})
        if "validation.folds" in fields(study):
            break
        admitted = folds
    else:
        pytest.fail("every fold count up to 20 was admitted")
    assert admitted >= 2
    loaded = data.load(study.dataset.model_dump(mode="json"))
    splits = data.make_splits(
        loaded, test_fraction=test_fraction, holdout=None, folds=admitted, seed=0
    )
    for fold in splits.folds:
        assert set(np.unique(fold.y_val)) == set(range(loaded.n_classes))


def test_an_upload_at_its_fold_limit_trains(tmp_path: Any) -> None:
    """18/22 rows: 14 of the smaller class are left after the test split, and 14 folds split."""
    raw, shape = upload((18, 22))
    limit = max(
        f
        for f in range(2, 21)
        if "validation.folds"
        not in fields(spec(dataset={"id": "0" * 32}, task="binary", validation={"folds": f}), shape)
    )
    table = read_table(raw, filename="d.csv", target="label")
    loaded = data.Dataset(table.X, table.y, table.task, table.feature_names)
    splits = data.make_splits(loaded, test_fraction=0.2, holdout=None, folds=limit, seed=0)
    assert len(splits.folds) == limit == 14


def test_val_auc_on_a_holdout_a_class_can_miss_is_refused() -> None:
    """2 rows of one class in 62: the holdout the worker draws holds none of them, so every
    trial's AUC was NaN and the study ended with no best model; the rule names the holdout, the
    boundary it admits puts the class in the holdout, and other metrics score such a holdout."""
    raw, shape = upload((2, 60))
    auc = {"metric": "val_auc", "direction": "maximize"}
    study = spec(dataset={"id": "0" * 32}, task="binary", objective=auc)
    (problem,) = admission.problems(study, cost.shape_of(study, shape), BUDGET)
    assert problem.path == "validation.holdout"
    assert "val_auc needs rows of both classes in the holdout" in problem.rule
    table = read_table(raw, filename="d.csv", target="label")
    loaded = data.Dataset(table.X, table.y, table.task, table.feature_names)
    (fold,) = data.make_splits(loaded, test_fraction=0.2, holdout=0.2, folds=None, seed=0).folds
    assert len(np.unique(fold.y_val)) == 1
    assert fields(spec(dataset={"id": "0" * 32}, task="binary"), shape) == []

    for smaller in range(2, 30):
        raw, shape = upload((smaller, 60))
        if fields(study, shape) == []:
            break
    assert smaller == 7  # 5 left after the test split, one in a holdout of 0.2
    table = read_table(raw, filename="d.csv", target="label")
    loaded = data.Dataset(table.X, table.y, table.task, table.feature_names)
    for seed in range(10):
        (fold,) = data.make_splits(
            loaded, test_fraction=0.2, holdout=0.2, folds=None, seed=seed
        ).folds
        assert len(np.unique(fold.y_val)) == 2


def _worker_splits(loaded: data.Dataset, validation: dict[str, Any]) -> bool:
    """Whether the worker draws ``validation``'s splits of ``loaded`` (seed 0)."""
    try:
        data.make_splits(
            loaded,
            test_fraction=validation.get("test_fraction", 0.2),
            holdout=validation.get("holdout"),
            folds=validation.get("folds"),
            seed=0,
        )
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("validation", "field", "numbers"),
    [
        ({"holdout": 0.01}, "validation.holdout", "118 / 2"),
        ({"folds": 3, "test_fraction": 0.01}, "validation.test_fraction", "148 / 2"),
        ({"holdout": 0.2, "test_fraction": 0.01}, "validation.test_fraction", "148 / 2"),
    ],
    ids=["holdout", "folds' test split", "holdout's test split"],
)
def test_a_stratified_split_with_fewer_rows_than_classes_is_refused(
    validation: dict[str, Any], field: str, numbers: str
) -> None:
    """iris, 3 classes: a holdout of 2 rows (or a test split of 2) cannot hold each class, and
    every trial failed with the worker's ValueError; the rule names the field and the split."""
    study = spec(dataset={"builtin": "iris"}, validation=validation)
    (problem,) = admission.problems(study, cost.shape_of(study), BUDGET)
    assert problem.path == field and numbers in problem.rule and "3 classes" in problem.rule
    assert not _worker_splits(data.load({"builtin": "iris"}), validation)


@pytest.mark.parametrize("name", ["holdout", "test_fraction"])
@pytest.mark.parametrize(
    "dataset", [{"builtin": "iris"}, {"builtin": "wine"}, {"id": "0" * 32}], ids=str
)
def test_admitted_fractions_split_and_refused_ones_do_not(
    name: str, dataset: dict[str, Any]
) -> None:
    """The boundary is the worker's, for built-in and uploaded data (3 classes of 10, 12 and
    30 rows: the shape the store gives from the upload's class counts)."""
    shape: cost.DataShape | None = None
    if "id" in dataset:
        raw, shape = upload((10, 12, 30), task="multiclass")
        table = read_table(raw, filename="d.csv", target="label", task="multiclass")
        loaded = data.Dataset(table.X, table.y, table.task, table.feature_names)
    else:
        loaded = data.load(dataset)
    seen = set()
    for percent in range(1, 13):
        validation = {name: percent / 100}
        study = spec(dataset=dataset, task="multiclass", validation=validation)
        admitted = f"validation.{name}" not in fields(study, shape)
        assert admitted == _worker_splits(loaded, validation), validation
        seen.add(admitted)
    assert seen == {True, False}
