"""A linear trial's weights by input name, as the worker records them for the report's
coefficient path: averaged over fold models, signed (one output) or a norm over classes, only
the non-zero ones, the largest ``MAX_COEFFICIENTS``, rounded; one attribute on the trial."""

from __future__ import annotations

import copy
import json

import numpy as np
import optuna
import pytest
import torch

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.trials.coefficients import DIGITS, MAX_COEFFICIENTS, decode, encode
from regtune.worker.coefficients import (
    coefficient_attrs,
    input_weights,
    linear_weights,
    record_coefficients,
)
from regtune.worker.models import build_model
from regtune.worker.objective import make_objective


def test_fold_models_are_averaged_and_classes_take_the_norm() -> None:
    folds = [np.array([[1.0, 0.0, -2.0]]), np.array([[3.0, 0.0, -4.0]])]
    assert input_weights(folds).tolist() == [2.0, 0.0, -3.0]
    classes = [torch.tensor([[3.0, 0.0], [4.0, 1.0]])]
    assert input_weights(classes).tolist() == [5.0, 1.0]


def test_only_the_largest_non_zero_weights_are_kept_rounded() -> None:
    names = [f"x{i}" for i in range(MAX_COEFFICIENTS + 10)]
    weights = [0.0 if i % 7 == 0 else (i + 1) * 1.234567 for i in range(len(names))]
    kept = encode(names, weights)
    assert len(kept) == MAX_COEFFICIENTS and "x0" not in kept
    smallest = sorted(abs(w) for w in weights if w)[-MAX_COEFFICIENTS]
    assert all(abs(w) >= float(f"{smallest:.{DIGITS}g}") for w in kept.values())
    assert kept[names[-1]] == float(f"{len(names) * 1.234567:.{DIGITS}g}")
    assert decode(json.dumps(kept)) == kept
    with pytest.raises(ValueError, match="one weight per input"):
        encode(["a"], [1.0, 2.0])


def test_a_trial_records_its_models_weights_in_one_attribute() -> None:
    model = build_model("linear", n_in=3, n_out=1, hidden_layers=[], batch_norm=False, dropout=0)
    assert isinstance(model[1], torch.nn.Linear)
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.5, 0.0, -0.25]]))
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    record_coefficients(storage, trial_id_of(trial), linear_weights([model]), ["a", "b", "c"])
    stored = storage.get_trial(trial_id_of(trial)).system_attrs
    assert stored == {COEFFICIENTS_ATTR: {"a": 0.5, "c": -0.25}}
    assert coefficient_attrs(linear_weights([model]), ["a", "b", "c"]) == stored


def test_a_linear_trial_stores_a_weight_for_each_input_it_uses() -> None:
    body = copy.deepcopy(EXAMPLE)
    body.update(
        name="coefficients",
        task="regression",
        dataset={"builtin": "diabetes"},
        search_space={"lambda": 0.05, "l1_ratio": 1.0},
        pruner={"type": "none"},
    )
    study = optuna.create_study()
    objective = make_objective(StudySpec.model_validate(body), stop_check=lambda: None)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    stored = trial.system_attrs[COEFFICIENTS_ATTR]
    assert 0 < len(stored) == trial.user_attrs["n_inputs"] < 10  # the lasso dropped some inputs
    assert set(stored) <= {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}
