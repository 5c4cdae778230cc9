"""The two model families: an affine layer (linear), and an MLP with dropout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def build_model(
    kind: str,
    *,
    n_in: int,
    n_out: int,
    hidden_layers: list[int],
    batch_norm: bool,
    dropout: float,
) -> nn.Sequential:
    """``linear``: Dropout(inputs) → Linear.
    ``mlp``: (Linear → [BatchNorm] → ReLU → Dropout)* → Linear.

    A Linear layer's bias before a batch norm is not trained (``requires_grad`` off, left out
    of the optimizers): the norm subtracts the batch's mean, so its true gradient is zero and
    what an optimizer got was rounding, which depends on the shape of the product (how many
    members a fused pass stacks); Adam divided it by its own size into steps of about the
    learning rate, and the norm's running mean, which evaluation uses, followed them: a
    member's value moved by 1e-3 with its pass's width. Kept at its initial value, it is in
    the model file as before (the running mean holds it)."""
    if kind == "linear":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, n_out))
    layers: list[nn.Module] = []
    width = n_in
    for units in hidden_layers:
        layers.append(nn.Linear(width, units))
        if batch_norm:
            layers[-1].bias.requires_grad_(False)  # the norm cancels it (above)
            layers.append(nn.BatchNorm1d(units))
        layers += [nn.ReLU(), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


@torch.no_grad()
def set_linear(model: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Set a ``linear`` model's affine layer (a solver's answer, or a warm start)."""
    layer = model[1] if isinstance(model, nn.Sequential) else None
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"a linear model (Dropout → Linear) is needed, got {model}")
    layer.weight.copy_(weight.reshape(layer.weight.shape))
    layer.bias.copy_(bias.reshape(layer.bias.shape))


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weights the penalty applies to: Linear weight matrices, never biases or BatchNorm."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def weighted_penalties(model: nn.Module, layer_penalty: float) -> list[tuple[torch.Tensor, float]]:
    """Each penalized weight matrix with its multiplier of λ: 1 for the first layer (the one
    that reads the inputs, where L1 selects features), ``layer_penalty`` for every later one
    (0: only the input layer is penalized; 1: every layer alike)."""
    weights = penalized_weights(model)
    return [(w, 1.0 if i == 0 else layer_penalty) for i, w in enumerate(weights)]


def count_nonzero(model: nn.Module) -> tuple[int, int]:
    return count_nonzero_of(penalized_weights(model))


def count_nonzero_of(weights: Sequence[torch.Tensor]) -> tuple[int, int]:
    """(non-zero, all) penalized weights of a model, given its penalized weight matrices
    (counted in numpy, on the tensors' own memory: a λ path counts them for every point)."""
    arrays = [w.detach().numpy() for w in weights]
    return sum(int(np.count_nonzero(a)) for a in arrays), sum(a.size for a in arrays)


def nonzero_inputs(model: nn.Module) -> int:
    return nonzero_inputs_of(penalized_weights(model))


def nonzero_inputs_of(weights: Sequence[torch.Tensor]) -> int:
    """How many input features the first layer still uses (a column with any non-zero weight)."""
    return int(np.count_nonzero(weights[0].detach().numpy().any(axis=0)))
