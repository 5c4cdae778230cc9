"""A table's column as a model takes it: a number, or text one-hot encoded over the categories
upload saw, the same at upload (``columns``) and at predict (``encoder``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from regtune.service.ingest.values import bind, cells, composed_levels

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Feature:
    """One column of the file: numeric, or text one-hot encoded over ``categories``."""

    name: str
    categories: tuple[str, ...] | None = None

    @property
    def names(self) -> list[str]:
        """The model's feature names this column becomes (``city=oslo`` for a category)."""
        if self.categories is None:
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]


def one_hot(text: np.ndarray, missing: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Rows × categories of 0/1: NaN across a row whose value is missing, zeros for a value
    that is not one of ``categories``."""
    values = text.copy()
    values[missing] = None
    codes = _codes(values, categories)
    block = (codes[:, None] == np.arange(len(categories))[None, :]).astype(np.float64)
    block[missing] = np.nan
    return block


def text_block(
    feature: Feature,
    values: pd.Series | np.ndarray,
    na_tokens: Sequence[str],
    *,
    decimal: str = ".",
) -> tuple[np.ndarray, list[str]]:
    """A text column's cells one-hot encoded over ``feature``'s categories (each value bound to
    the one it means, ``bind``), and the values none of them is, sorted: all zeros there."""
    assert feature.categories is not None
    text, missing = cells(values, na_tokens, decimal=decimal)
    categories = composed_levels(feature.categories)
    text = bind(text, categories)
    block = one_hot(text, missing, categories)
    unseen = ~missing & (np.nan_to_num(block).sum(axis=1) == 0)
    return block, sorted(set(text[unseen].tolist()))


def _codes(values: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Each value's position in ``categories``, -1 for none (pandas' hash index when present)."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        index = {c: i for i, c in enumerate(categories)}
        return np.fromiter((index.get(v, -1) for v in values), np.int64, len(values))
    return pd.Index(list(categories), dtype=object).get_indexer(values)


def duplicate_names(features: Sequence[Feature]) -> list[tuple[str, str, str]]:
    """(feature name, first column, second column) for every name two columns both produce."""
    seen: dict[str, str] = {}
    found: list[tuple[str, str, str]] = []
    for feature in features:
        for name in feature.names:
            if name in seen:
                found.append((name, seen[name], feature.name))
            seen.setdefault(name, feature.name)
    return found
