"""Record a linear trial's weights by input name (its ``regtune:coefficients`` attribute), the
data of the report's coefficient path.

``record_coefficients`` is the one writer: a single trial calls it once its models are trained
(one statement), and a writer of many trials at once (a regularization path) builds the same
attribute with ``coefficient_attrs`` for each trial's system attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from optuna.storages import BaseStorage
from torch import nn

from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
from regtune.service.store.trials.coefficients import encode
from regtune.worker.models import penalized_weights

Weights = torch.Tensor | np.ndarray
"""One fold model's weight matrix, (outputs, inputs) as ``nn.Linear`` holds it."""


def linear_weights(models: Sequence[nn.Module]) -> list[Weights]:
    """The affine layer's weight matrix of each fold's linear model."""
    return [penalized_weights(m)[0] for m in models]


def input_weights(weights: Sequence[Weights] | np.ndarray) -> np.ndarray:
    """One number per input, on standardized inputs: the fold models' weights averaged (their
    predictions are); signed with one output, the norm over outputs (classes) otherwise.
    ``weights``: a matrix per fold, or them stacked (folds, outputs, inputs)."""
    if not len(weights):
        raise ValueError("no weights: at least one fold model is needed")
    matrices = (  # stacked already (a path's point), or one per fold
        weights
        if isinstance(weights, np.ndarray)
        else [w.detach().numpy() if isinstance(w, torch.Tensor) else w for w in weights]
    )
    mean = np.mean(matrices, axis=0, dtype=np.float64).reshape(matrices[0].shape[0], -1)
    return np.asarray(mean[0] if mean.shape[0] == 1 else np.linalg.norm(mean, axis=0))


def coefficient_attrs(
    weights: Sequence[Weights] | np.ndarray, names: Sequence[str]
) -> dict[str, Any]:
    """The trial system attribute that records these weights, to merge into a trial's
    ``system_attrs`` (a batch of trials written at once)."""
    return {COEFFICIENTS_ATTR: encode(names, input_weights(weights).tolist())}


def record_coefficients(
    storage: BaseStorage, trial_id: int, weights: Sequence[Weights], names: Sequence[str]
) -> None:
    """Write a running trial's weights by input name: one attribute, one statement."""
    ((key, value),) = coefficient_attrs(weights, names).items()
    storage.set_trial_system_attr(trial_id, key, value)
