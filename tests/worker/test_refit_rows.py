"""``refit_rows``: the saved best model trains on every row by default, once the test metric is
measured by the refit on the other rows; ``non_test`` saves that measured refit itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker import data, modelfile
from regtune.worker.best_model import loaded, save_best_model
from regtune.worker.objective import make_objective
from regtune.worker.refit import best_fit
from tests.inprocess import run_to_the_end

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _definition(**parts: Any) -> dict[str, Any]:
    return {
        "name": "refit-rows",
        "dataset": {"builtin": "diabetes"},
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "training": {"lambda_path": None},
        "pruner": {"type": "none"},
        **parts,
    }


def _completed(api: TestClient, definition: dict[str, Any]) -> tuple[dict[str, Any], StudySpec]:
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    body = created.json()
    spec = resolve_task(StudySpec.from_stored(body["definition"]))
    study = optuna.load_study(study_name=body["optuna_study_name"], storage=get_storage())
    for lam in (0.3, 0.01):
        study.enqueue_trial({"lambda": lam})
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=2)
    return body, spec


def _downloaded(api: TestClient, study_id: str, tmp_path: Path) -> modelfile.SavedModel:
    answer = api.get(f"/v1/studies/{study_id}/best-model")
    assert answer.status_code == 200, answer.text
    path = tmp_path / "best.safetensors"
    path.write_bytes(answer.content)
    return modelfile.load(path)


@pytest.mark.parametrize("rows", ["all", "non_test", None])
def test_the_test_metric_is_measured_without_the_test_rows_and_the_saved_model_uses_the_rows_asked(
    api: TestClient, tmp_path: Path, rows: str | None
) -> None:
    """None: the default, every row. The reported test metric is the refit's on the non-test
    rows either way; the downloaded model is the refit on the rows ``refit_rows`` names."""
    body, spec = _completed(api, _definition(**({"refit_rows": rows} if rows else {})))
    record = save_best_model(body["id"])
    assert record is not None
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    v = spec.validation
    rest, test = data.split_test(dataset, test_fraction=v.test_fraction, seed=v.split_seed)
    study = optuna.load_study(study_name=body["optuna_study_name"], storage=get_storage())
    trial = study.trials[record["trial"]]

    measured = loaded(dataset, best_fit(spec, trial.params, trial.user_attrs))
    on_test = measured.score(dataset.X[test], dataset.y[test])
    assert record["test_metrics"] == pytest.approx(on_test, rel=1e-9)

    every_row = (rows or "all") == "all"
    assert record["refit"] is True
    assert record["refit_rows"] == ("all" if every_row else "non_test")
    assert record["train_rows"] == (len(dataset.y) if every_row else len(rest))
    shown = api.get(f"/v1/studies/{body['id']}").json()["best_model"]
    assert shown["refit_rows"] == record["refit_rows"]

    saved = _downloaded(api, body["id"], tmp_path)
    got = saved.predict(dataset.X)["prediction"]
    if every_row:  # the refit on every row, not the one measured
        fitted = best_fit(spec, trial.params, trial.user_attrs, every_row=True)
        assert fitted.train_rows == len(dataset.y)
        expected = loaded(dataset, fitted).predict(dataset.X)["prediction"]
        assert not np.allclose(got, measured.predict(dataset.X)["prediction"], rtol=1e-6)
    else:  # the measured refit: the download reproduces the reported test metric
        expected = measured.predict(dataset.X)["prediction"]
        assert saved.score(dataset.X[test], dataset.y[test]) == pytest.approx(on_test, rel=1e-6)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_refit_rows_without_a_refit_is_refused(api: TestClient) -> None:
    answer = api.post("/v1/studies", json=_definition(refit=False, refit_rows="all"))
    assert answer.status_code == 422, answer.text
    text = answer.text
    assert "refit_rows" in text and "refit: true" in text


def test_a_study_without_a_refit_runs_and_reads_back(api: TestClient) -> None:
    """``refit: false`` stored ``refit_rows`` with it, which its own rule refuses: every trial
    failed and every read of the study was a 500."""
    created = api.post("/v1/studies", json=_definition(refit=False, budget={"n_trials": 3}))
    assert created.status_code == 201, created.text
    assert "refit_rows" not in created.json()["definition"]
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study["error"]
    assert study["best_model"] is not None and study["best_model"]["refit"] is False
    for path in ("", "/report", "/trials"):
        url = f"/v1/studies/{study['id']}{path}"
        assert api.get(url, headers={"Cache-Control": "no-cache"}).status_code == 200, url


def test_refit_rows_takes_only_its_two_values(api: TestClient) -> None:
    answer = api.post("/v1/studies", json=_definition(refit_rows="train"))
    assert answer.status_code == 422, answer.text
    assert "refit_rows" in answer.text
