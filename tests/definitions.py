"""Study definitions more than one test module submits."""

from __future__ import annotations

from typing import Any

DIVERGING: dict[str, Any] = {
    "name": "diverging",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [32]},
    "search_space": {"lambda": 1e-6, "l1_ratio": 0.5, "learning_rate": 10.0},
    "training": {"max_epochs": 3, "optimizer": "sgd", "batch_size": 32},
    "validation": {"holdout": 0.2},
    "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 1, "max_parallel": 1},
}
"""Its one trial diverges (plain SGD at a learning rate of 10): COMPLETE at +inf with NaN
metrics, so the study has no best trial and no model."""
