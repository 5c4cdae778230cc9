"""A definition's ``dataset``: a built-in dataset by name, an uploaded one by the id regtune
answered, or synthetic data by its parameters; ``DatasetRef`` tells them apart by their key.

What each built-in dataset is (task, shape) is ``datasets``; what an upload holds is the store's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from regtune.service.spec.datasets import BuiltinDataset
from regtune.service.spec.strict import Strict

DATASET_ID_PATTERN = r"^[0-9a-f]{8,64}$"


class Builtin(Strict):
    builtin: BuiltinDataset = Field(strict=False)


class Uploaded(Strict):
    id: str = Field(pattern=DATASET_ID_PATTERN)


class SyntheticParams(Strict):
    kind: Literal["sparse_regression", "classification", "friedman1"]
    n_samples: int = Field(default=500, ge=20, le=200_000)
    n_features: int = Field(default=20, ge=1, le=2_000)
    n_informative: int = Field(default=5, ge=1, le=2_000)
    noise: float = Field(default=0.1, ge=0, le=1_000)
    n_classes: int = Field(default=2, ge=2, le=50)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _informative_fits(self) -> SyntheticParams:
        """friedman1's own rule first: its 5 informative features are fixed, whatever
        n_informative says (was: its default 5 refused n_features 4 as "got 5 > 4", a number
        the definition never gave, and the friedman1 rule was never reached)."""
        if self.kind == "friedman1" and self.n_features < 5:
            raise ValueError(
                f"friedman1 needs n_features ≥ 5 (its 5 informative features), "
                f"got {self.n_features}"
            )
        if self.n_informative > self.n_features:
            default = "" if "n_informative" in self.model_fields_set else " (its default)"
            raise ValueError(
                f"n_informative must be ≤ n_features, got {self.n_informative}{default} > "
                f"{self.n_features}"
            )
        if self.kind == "classification" and self.n_classes > 2**self.n_informative:
            # make_classification puts each class on its own vertex of an n_informative cube
            raise ValueError(
                "classification needs n_classes ≤ 2 ** n_informative (a class per corner of "
                f"the informative features' cube), got n_classes={self.n_classes} > "
                f"2 ** {self.n_informative}"
            )
        return self


class Synthetic(Strict):
    synthetic: SyntheticParams


def _dataset_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        for key in ("builtin", "id", "synthetic"):
            if key in value:
                return key
    return None


DatasetRef = Annotated[
    Annotated[Builtin, Tag("builtin")]
    | Annotated[Uploaded, Tag("id")]
    | Annotated[Synthetic, Tag("synthetic")],
    Discriminator(
        _dataset_tag,
        custom_error_type="dataset_kind",
        custom_error_message="dataset must be one of {builtin: NAME}, {id: ID}, {synthetic: {...}}",
    ),
]
