"""The report's section of the objective against non-zero weights is named by the objective: a
study of ``val_accuracy`` had "Loss against sparsity" over a plot of accuracy."""

from __future__ import annotations

import uuid

import optuna
from fastapi.testclient import TestClient
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.optuna_studies import add_trials
from tests.service.test_report import DISTRIBUTIONS, _set_status


def test_the_sparsity_section_is_named_by_the_objective(api: TestClient) -> None:
    spec = StudySpec.model_validate(
        {
            "name": f"accuracy-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "breast_cancer"},
            "task": "binary",
            "model": {"kind": "linear"},
            "search_space": {
                "lambda": {"low": 1e-4, "high": 1.0, "log": True},
                "l1_ratio": {"low": 0.0, "high": 1.0},
            },
            "objective": {"metric": "val_accuracy"},
            "budget": {"n_trials": 12},
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    add_trials(
        study,
        [
            create_trial(
                state=TrialState.COMPLETE,
                value=0.9 + i / 200,
                params={"lambda": 10 ** (-i / 3), "l1_ratio": 0.5},
                distributions=DISTRIBUTIONS,
                user_attrs={"n_nonzero": 2 + i},
            )
            for i in range(12)
        ],
    )
    _set_status(row.id, "completed")

    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "<h2>val_accuracy against sparsity</h2>" in html
    assert "Loss against sparsity" not in html
