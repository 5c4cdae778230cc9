"""A definition's ``model``: a linear model or an MLP, and the MLP's hidden layers when the
definition fixes them (``search_space.hidden_layers`` searches them instead)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from regtune.service.spec.objective import STORED
from regtune.service.spec.strict import Strict

MLP_ONLY = {"layer_penalty": 1.0, "batch_norm": 0.0}
"""Knobs a linear model has no use for, with the value that means "not used"."""


class Model(Strict):
    kind: Literal["linear", "mlp"] = "linear"
    hidden_layers: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(
        default_factory=lambda: [64, 64],
        max_length=8,
        description="the MLP's hidden layers' sizes; null (or left out) when "
        "search_space.hidden_layers searches them",
    )
    batch_norm: bool = False

    @field_validator("hidden_layers")
    @classmethod
    def _a_hidden_layer(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        """An MLP without a hidden layer is one Linear layer: dropout, batch_norm and
        layer_penalty act between layers, so they would do nothing (a stored definition reads
        back as it was accepted)."""
        stored = (info.context or {}).get(STORED)
        if value == [] and info.data.get("kind") == "mlp" and not stored:
            raise ValueError(
                "an MLP has at least one hidden layer, got []: for no hidden layer give "
                "model.kind linear"
            )
        return value
