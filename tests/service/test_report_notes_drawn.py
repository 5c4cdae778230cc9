"""The report's notes on the regularization path go only with the figures they are about: a
study whose trials were all pruned draws only learning curves, and its page said "No trial stored
its weights by input … the path shows each trial's non-zero weights. ± 1 SE: the spread of the
trials within a λ bin (a holdout has no folds)" under them, of a path and a curve it never drew.

Fast and in-process: the trials written through Optuna, the page read through the app.
"""

from __future__ import annotations

import random
import uuid

import optuna
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.optuna_studies import add_trials
from tests.service.test_report import DISTRIBUTIONS, _in_figure, _plots, _set_status, _trial

PATH_NOTES = ("No trial stored its weights", "the path shows", "1 SE", "coefficient path draws")


def _pruned_study() -> StudySpec:
    return StudySpec.model_validate(
        {
            "name": f"all-pruned-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "diabetes"},
            "model": {"kind": "mlp", "hidden_layers": [16]},
            "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
            "training": {"max_epochs": 20, "early_stopping": {"patience": 5}},
            "pruner": {"type": "patient", "patience": 1},
            "budget": {"n_trials": 8},
        }
    )


def test_a_study_whose_trials_were_all_pruned_has_no_notes_of_a_path(api: TestClient) -> None:
    row = create_study(_pruned_study())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(4)
    pruned = [
        create_trial(
            state=TrialState.PRUNED,
            params={"lambda": 10 ** rng.uniform(-4, 0)},
            distributions={"lambda": FloatDistribution(1e-4, 1.0, log=True)},
            intermediate_values={1: 0.9, 2: 0.8, 3: 0.85},
            user_attrs={"epochs_run": 3},
        )
        for _ in range(8)
    ]
    add_trials(study, pruned)
    _set_status(row.id, "completed", error="no best model: no COMPLETE trial")

    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "PRUNED 8" in html
    assert _plots(html) == 1 and _in_figure("Learning curves", html)
    assert not _in_figure("Validation curve", html)
    for note in PATH_NOTES:
        assert note not in html, note
    assert "Sampled from the database: 0 COMPLETE trials" in html  # the page's own sampling


def test_a_study_of_no_path_has_no_notes_of_one(api: TestClient) -> None:
    """λ fixed: the trials' loss against their non-zero weights is drawn, no path, no curve."""
    definition = _pruned_study().model_dump(mode="json", exclude_none=True)
    definition["search_space"] = {"lambda": 0.01, "l1_ratio": {"low": 0.0, "high": 1.0}}
    definition["model"] = {"kind": "linear"}
    definition["training"] = {}
    definition["pruner"] = {"type": "none"}
    row = create_study(StudySpec.model_validate(definition))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(5)
    trials = []
    for _ in range(12):
        trial = _trial(rng, 0.01, rng.random(), pruned=False)
        trial.params = {"l1_ratio": trial.params["l1_ratio"]}
        trial.distributions = {"l1_ratio": DISTRIBUTIONS["l1_ratio"]}
        trial.set_user_attr("n_nonzero", rng.randint(1, 6))
        trials.append(trial)
    add_trials(study, trials)
    _set_status(row.id, "completed")

    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "val_loss against sparsity" in html
    assert not _in_figure("Validation curve", html) and not _in_figure("Coefficient path", html)
    for note in PATH_NOTES:
        assert note not in html, note
