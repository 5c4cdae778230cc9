"""``validation.test_fraction: 0``: no test split. Every row is in the folds (or the holdout), as
in scikit-learn's ``*CV`` estimators, for data that has a test file of its own; nothing reports
a test metric, and the best model trains on every row."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.cli.summary import NO_TEST_SPLIT, NO_TEST_SPLIT_HOLDOUT
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import best_model, data, refit
from regtune.worker.objective import prepare, validation_of
from tests.inprocess import cli_output, run_to_the_end


def _definition(builtin: str, **validation: Any) -> dict[str, Any]:
    return {
        "name": f"no-test-{builtin}",
        "dataset": {"builtin": builtin},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "validation": {"test_fraction": 0, **validation},
        "sampler": {"type": "tpe", "seed": 0},
        "budget": {"n_trials": 24},
    }


@pytest.mark.parametrize("validation", [{"folds": 5}, {"holdout": 0.25}])
def test_every_row_validates_once_and_none_is_a_test_row(validation: dict[str, Any]) -> None:
    spec = StudySpec.model_validate(_definition("breast_cancer", **validation))
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    rest, test = data.split_test(dataset, test_fraction=0, seed=0)
    assert len(test) == 0 and np.array_equal(rest, np.arange(len(dataset.y)))
    splits = data.make_splits(
        dataset,
        test_fraction=0,
        holdout=spec.validation.holdout,
        folds=spec.validation.folds,
        seed=0,
    )
    validated = np.concatenate([f.y_val for f in splits.folds])
    rows = len(dataset.y)
    assert len(validated) == (rows if validation.get("folds") else math.ceil(rows * 0.25))
    assert all(len(f.y_test) == 0 and len(f.y_train) + len(f.y_val) == rows for f in splits.folds)


@pytest.mark.parametrize("builtin", ["diabetes", "breast_cancer"])
def test_a_study_without_a_test_split_reports_no_test_metric_and_saves_a_model_of_every_row(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, builtin: str
) -> None:
    """λ-path trials (regression: relaxed paths too) and the best model, with no test rows:
    no ``test_*`` attribute on any trial, no test metrics on the study or its model, which
    trained on every row; ``show``, ``best`` and the report say so rather than fail."""
    created = api.post("/v1/studies", json=_definition(builtin, folds=5))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["definition"]["validation"]["test_fraction"] == 0
    study = run_to_the_end(api, body["id"])
    assert study["status"] == "completed", study

    listed = api.get(f"/v1/studies/{body['id']}/trials", params={"limit": 100}).json()["items"]
    assert len(listed) == 24
    assert len({t["params"]["l1_ratio"] for t in listed}) < 24  # λ paths: points share l1_ratio
    for trial in listed:
        assert "val_loss" in trial["user_attrs"]
        assert not [k for k in trial["user_attrs"] if k.startswith("test_")], trial

    model = study["best_model"]
    dataset = data.load({"builtin": builtin})
    assert model["test_metrics"] is None and model["train_rows"] == len(dataset.y)
    assert model["baseline_metrics"] is None  # no test rows to score a baseline on either
    assert study["best_trial"]["test_metrics"] is None
    assert study["best_trial"]["refit_test_metrics"] is None

    shown = cli_output(api, monkeypatch, "show", body["id"])
    assert f"test: {NO_TEST_SPLIT}" in shown
    assert f"trained on every row ({len(dataset.y):,}; no test split)" in shown
    assert "test rows too" not in shown
    best = cli_output(api, monkeypatch, "best", body["id"])
    assert f"test: {NO_TEST_SPLIT}" in best and "test (trial)" not in best
    report = api.get(f"/v1/studies/{body['id']}/report")
    assert report.status_code == 200, report.text[:2000]
    assert 'id="no-test-split"' in report.text and 'id="test-metrics"' not in report.text


def test_a_holdout_without_a_test_split_is_not_called_the_estimate(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``test_fraction: 0`` under a holdout: the holdout chose the best trial, so ``show``,
    ``best`` and the report call its score optimistic, not the study's estimate, and do not
    say every row validated."""
    body = _definition("diabetes", holdout=0.25) | {"budget": {"n_trials": 4}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    for command in ("show", "best"):
        text = cli_output(api, monkeypatch, command, study["id"])
        assert f"test: {NO_TEST_SPLIT_HOLDOUT}" in text, text
        assert "every row validates" not in text and "is the estimate" not in text, text
    report = api.get(f"/v1/studies/{study['id']}/report").text
    assert 'id="no-test-split"' in report and "so it is optimistic" in report
    assert "every row was in the validation" not in report


def test_refit_rows_non_test_without_a_test_split_is_a_422_saying_why(api: TestClient) -> None:
    answer = api.post("/v1/studies", json=_definition("diabetes") | {"refit_rows": "non_test"})
    assert answer.status_code == 422, answer.text
    [field] = answer.json()["error"]["fields"]
    assert field["path"] == "refit_rows"
    assert "validation.test_fraction 0 holds none out" in field["rule"]
    assert "leave refit_rows out" in field["rule"]


def test_a_negative_test_fraction_is_refused_by_name(api: TestClient) -> None:
    answer = api.post(
        "/v1/studies", json=_definition("diabetes") | {"validation": {"test_fraction": -0.1}}
    )
    assert answer.status_code == 422, answer.text
    assert "validation.test_fraction" in answer.text


def test_an_mlp_study_without_a_test_split_trains_fused_trials_and_a_model_of_every_row(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The minibatch trainer, its trials fused, and the MLP refit: no test rows to score, and
    one refit (its non-test rows are every row, so there is no second one for ``refit_rows``)."""
    refits: list[int] = []
    train = refit.fit

    def counted(*args: Any, **kwargs: Any) -> Any:
        refits.append(len(args[1][0].y_train))
        return train(*args, **kwargs)

    monkeypatch.setattr(refit, "fit", counted)
    definition = _definition("diabetes", holdout=0.2) | {
        "model": {"kind": "mlp", "hidden_layers": [8]},
        "search_space": {"lambda": {"low": 1e-4, "high": 1e-1, "log": True}, "dropout": 0.1},
        "training": {"max_epochs": 3, "fused_trials": 4},
        "budget": {"n_trials": 4},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    listed = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    assert len(listed) == 4
    assert all(not [k for k in t["user_attrs"] if k.startswith("test_")] for t in listed)
    model = study["best_model"]
    rows = len(data.load({"builtin": "diabetes"}).y)
    assert model["test_metrics"] is None and model["train_rows"] == rows
    assert model["refit_rows"] == "all" and refits == [rows]


def test_without_a_refit_the_best_trials_own_models_are_saved_once_with_no_test_metric(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``refit: false``: the best trial's fold models, trained once more as they were, and no
    second training for ``refit_rows`` (there is no refit to extend to the test rows)."""
    fits: list[int] = []
    fit = best_model.best_fit

    def counted(*args: Any, **kwargs: Any) -> Any:
        fits.append(1)
        return fit(*args, **kwargs)

    monkeypatch.setattr(best_model, "best_fit", counted)
    definition = _definition("diabetes", holdout=0.25) | {"refit": False, "budget": {"n_trials": 4}}
    definition["training"] = {"lambda_path": None}
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    model = study["best_model"]
    rows = len(data.load({"builtin": "diabetes"}).y)
    assert model["refit"] is False and model["test_metrics"] is None
    assert model["train_rows"] < rows and len(fits) == 1


def test_a_definition_used_directly_on_an_upload_splits_as_the_api_stores_it(
    api: TestClient,
) -> None:
    """``validation_of`` (benches, tests: no API in between) decides an upload's test split as
    the API does, a given scheme's too: ``{folds: 5}`` on an upload whose smallest class has 6
    rows puts every row in the folds, and the refit trains on every row."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(24, 3)), columns=["a", "b", "c"])
    frame["label"] = ["no"] * 18 + ["yes"] * 6  # 5 folds fit only without a test split
    uploaded = api.post(
        "/v1/datasets",
        files={"file": ("six.csv", frame.to_csv(index=False).encode())},
        data={"target": "label"},
    )
    assert uploaded.status_code == 201, uploaded.text
    given: tuple[dict[str, float], ...] = (
        {},
        {"folds": 5},
        {"folds": 3},
        {"holdout": 0.3},
        {"test_fraction": 0.1},
    )
    for number, validation in enumerate(given):
        body = {
            "name": f"direct-{number}",
            "dataset": {"id": uploaded.json()["id"]},
            "model": {"kind": "linear"},
            "validation": validation,
        }
        created = api.post("/v1/studies", json=body)
        assert created.status_code == 201, created.text
        stored = StudySpec.from_stored(created.json()["definition"]).validation
        spec = resolve_task(StudySpec.model_validate(body), "binary")
        direct = validation_of(spec, data.load(spec.dataset.model_dump(mode="json")))
        decided = (direct.folds, direct.holdout, direct.test_fraction)
        assert decided == (stored.folds, stored.holdout, stored.test_fraction), validation
        if validation == {"folds": 5}:
            assert direct.test_fraction == 0
            splits = prepare(spec)
            assert sum(len(f.y_val) for f in splits.folds) == len(frame)
            refit_fold = refit.refit_splits(spec).folds[0]
            assert (len(refit_fold.y_train), len(refit_fold.y_test)) == (len(frame), 0)
