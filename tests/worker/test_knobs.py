"""The seeds' remaining techniques, each a knob of the search space: input noise, a penalty per
layer, and batch normalization as a choice."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from sklearn.linear_model import Ridge

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.spec.policies import TPESampler
from regtune.service.spec.resolve import resolve_task
from regtune.worker.data import Fold, Standardizer, load, make_splits
from regtune.worker.models import penalized_weights, weighted_penalties
from regtune.worker.objective import train_config
from regtune.worker.policies import make_sampler
from regtune.worker.search import suggest
from regtune.worker.trainers.config import ExactOptions, TrainConfig
from regtune.worker.trainers.exact import input_noise_l2, train_exact
from regtune.worker.trainers.fista import LinearState
from regtune.worker.trainers.minibatch import train_minibatch as train


def _fold(name: str) -> Fold:
    return make_splits(load({"builtin": name}), test_fraction=0.2, holdout=0.2, folds=None,
                       seed=0).folds[0]  # fmt: skip


def _mlp(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "task": "regression",
        "n_out": 1,
        "model_kind": "mlp",
        "hidden_layers": (16, 16),
        "max_epochs": 4,
        "batch_size": 64,
        "early_stopping": None,
    }
    return TrainConfig(**(base | overrides))


def _first_weights(result: Any) -> np.ndarray:
    return penalized_weights(result.models[0])[0].detach().numpy().copy()


def test_input_noise_perturbs_training_reproducibly_and_never_evaluation() -> None:
    fold = _fold("diabetes")
    plain = train(_mlp(), [fold])
    noisy = train(_mlp(input_noise=0.5), [fold])
    again = train(_mlp(input_noise=0.5), [fold])
    assert not np.array_equal(_first_weights(plain), _first_weights(noisy))
    assert np.array_equal(_first_weights(noisy), _first_weights(again))  # seeded
    model = noisy.models[0].eval()
    X = torch.from_numpy(fold.X_val)
    assert torch.equal(model(X), model(X))  # no noise at evaluation


def test_input_noise_under_the_exact_solver_is_its_expected_ridge() -> None:
    """For ½·MSE, Gaussian input noise σ adds exactly ½·σ²·|w|²: the noisy trial's answer is
    scikit-learn's Ridge with alpha = σ²·n (no other penalty)."""
    diabetes = load({"builtin": "diabetes"})
    X, y = diabetes.X, diabetes.y
    scaler = Standardizer.fit(X, y, "regression")
    Xs, ys = scaler.x(X), scaler.y(y, "regression")
    fold = Fold(Xs, ys, Xs, ys, Xs, ys, scaler)
    sigma = 0.3
    assert np.allclose(input_noise_l2(10, task="regression", n_out=1, std=sigma), sigma**2)
    reference = Ridge(alpha=sigma**2 * len(ys)).fit(Xs.astype(np.float64), ys)
    start = LinearState(torch.from_numpy(reference.coef_[None, :]), torch.tensor([0.0]))
    options = ExactOptions(tol=1e-8, max_iter=50)  # from the answer: certified in a few steps
    config = TrainConfig(
        task="regression", n_out=1, lam=0.0, l1_ratio=0.0, input_noise=sigma, exact=options
    )
    result = train_exact(config, [fold], warm_start=[start])
    assert result.converged
    model = result.models[0]
    assert isinstance(model, torch.nn.Sequential) and isinstance(model[1], torch.nn.Linear)
    ours = model[1].weight.detach().double().numpy().ravel()
    assert np.allclose(ours, reference.coef_, atol=1e-4)


def test_layer_penalty_weighs_the_layers_after_the_first() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    assert [scale for _, scale in weighted_penalties(model, 0.25)] == [1.0, 0.25]
    fold = _fold("diabetes")
    lasso = {"lam": 1.0, "l1_ratio": 1.0, "learning_rate": 1e-2}
    input_only = train(_mlp(layer_penalty=0.0, **lasso), [fold]).models[0]
    every = train(_mlp(layer_penalty=1.0, **lasso), [fold]).models[0]
    first, *later = penalized_weights(input_only)
    assert (first == 0).any()  # the input layer is still sparsified
    assert all((w != 0).all() for w in later)  # the others are not penalized at all
    assert any((w == 0).any() for w in penalized_weights(every)[1:])


def _mlp_spec(search_space: dict[str, Any]) -> StudySpec:
    definition = copy.deepcopy(EXAMPLE)
    definition["model"] = {"kind": "mlp", "hidden_layers": [8]}
    definition["training"] = {"solver": "minibatch", "max_epochs": 2}
    definition["search_space"] = {"lambda": 1e-3, "l1_ratio": 0.5} | search_space
    return resolve_task(StudySpec.model_validate(definition))


@pytest.mark.parametrize("sampler", ["tpe", "grid"])
def test_batch_norm_is_a_choice_the_sampler_makes(sampler: str) -> None:
    spec = _mlp_spec({"batch_norm": {"choices": [True, False]}})
    spec = spec.model_copy(update={"sampler": TPESampler(type="tpe", seed=0)})
    if sampler == "grid":
        spec = StudySpec.model_validate(spec.to_stored() | {"sampler": {"type": "grid"}})
    study = optuna.create_study(sampler=make_sampler(spec))
    seen = set()

    def objective(trial: optuna.Trial) -> float:
        config = train_config(spec, suggest(trial, spec), n_out=1)
        assert trial.params["batch_norm"] is config.batch_norm  # shown as true/false
        seen.add(config.batch_norm)
        return 1.0

    study.optimize(objective, n_trials=2 if sampler == "grid" else 6)
    assert seen == {True, False}


@pytest.mark.parametrize("sampler", ["tpe", "grid"])
def test_batch_size_choices_are_stored_as_whole_numbers(sampler: str) -> None:
    """As a range's suggest_int stores them: ``best_params["batch_size"]`` is 64, not 64.0, for
    whoever hands it to a DataLoader."""
    spec = _mlp_spec({"batch_size": {"choices": [32, 64]}})
    spec = StudySpec.model_validate(spec.to_stored() | {"sampler": {"type": sampler, "seed": 0}})
    study = optuna.create_study(sampler=make_sampler(spec))

    def objective(trial: optuna.Trial) -> float:
        config = train_config(spec, suggest(trial, spec), n_out=1)
        assert config.batch_size == trial.params["batch_size"]
        return float(config.batch_size or 0)

    study.optimize(objective, n_trials=2)
    assert {t.params["batch_size"] for t in study.trials} == {32, 64}
    assert all(type(t.params["batch_size"]) is int for t in study.trials)
    assert type(study.best_params["batch_size"]) is int


def test_a_fixed_batch_norm_knob_overrides_the_model_flag() -> None:
    spec = _mlp_spec({"batch_norm": True, "input_noise": 0.1, "layer_penalty": 0.5})
    trial = optuna.create_study().ask()
    config = train_config(spec, suggest(trial, spec), n_out=1)
    assert (config.batch_norm, config.input_noise, config.layer_penalty) == (True, 0.1, 0.5)
    result = train(config, [_fold("diabetes")])
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in result.models[0].modules())
