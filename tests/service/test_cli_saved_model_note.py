"""``regtune show`` and ``regtune best`` name the saved model for what was saved, not for what
the definition asked: a refused refit (``best_model.refit`` false under ``refit: true``) saves
the trial's own models, and ``best_model.note``, which says why, is printed with it."""

from __future__ import annotations

import copy
from typing import Any

import optuna
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR
from regtune.service.store.scheduling.retries import get_storage
from tests.inprocess import cli_output

NOTE = (
    "the refit fits its own training rows worse than their mean does (loss 0.5022 against "
    "0.5): the trial's own models are saved"
)


def test_a_refused_refit_is_shown_as_the_saved_model_with_its_note(
    api: TestClient, monkeypatch: Any
) -> None:
    body = copy.deepcopy(EXAMPLE) | {"name": "refused-refit"}  # refit: true, the default
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    trial = study.ask({"lambda": optuna.distributions.FloatDistribution(1e-5, 10, log=True)})
    trial.set_user_attr("test_r2", 0.41)
    study.tell(trial, 1.0)
    study.set_user_attr(
        BEST_MODEL_ATTR,
        {"artifact_id": "a", "trial": 0, "filename": "m.safetensors", "bytes": 1, "sha256": "0",
         "test_metrics": {"r2": 0.4}, "val_metrics": {}, "refit": False, "refit_rows": None,
         "train_rows": 282, "note": NOTE, "created_at": "2026-01-01T00:00:00+00:00"},
    )  # fmt: skip
    study_id = created.json()["id"]
    assert api.get(f"/v1/studies/{study_id}").json()["best_model"]["refit"] is False

    for command in ("show", "best"):
        text = cli_output(api, monkeypatch, command, study_id)
        assert "test (saved model): r2=0.4" in text, text
        assert "refit model" not in text, text
        assert f"note: {NOTE}" in text, text
