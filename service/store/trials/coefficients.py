"""A linear trial's weights by input name, as its ``regtune:coefficients`` system attribute holds
them: written by the worker (``regtune.worker.coefficients``), read by the report's coefficient
path.

Size is the concern: a study may have 100,000 trials, so a trial keeps only its non-zero weights,
at most ``MAX_COEFFICIENTS`` of them (the largest in magnitude), each to ``DIGITS`` significant
digits, as one small JSON object ``{input name: weight}`` in one attribute row. An input
missing from it is zero in that trial (or, past the cap, among its smallest weights).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

MAX_COEFFICIENTS = 50
"""Weights kept per trial: a path of more lines than this is not read by anyone."""
DIGITS = 4
"""Significant digits kept of a weight (a path is read by eye)."""


def encode(names: Sequence[str], weights: Sequence[float]) -> dict[str, float]:
    """The non-zero, finite weights by input name: the ``MAX_COEFFICIENTS`` largest, rounded."""
    if len(names) != len(weights):
        raise ValueError(f"one weight per input is needed, got {len(weights)=} for {len(names)=}")
    kept = [(str(n), float(w)) for n, w in zip(names, weights, strict=True)]
    kept = [(n, w) for n, w in kept if w != 0.0 and math.isfinite(w)]
    kept.sort(key=lambda nw: -abs(nw[1]))
    return {n: float(f"{w:.{DIGITS}g}") for n, w in kept[:MAX_COEFFICIENTS]}


def decode(text: str | None) -> dict[str, float] | None:
    """The stored JSON back as ``{input name: weight}``; None when absent or unreadable."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    out: dict[str, float] = {}
    for name, weight in value.items():
        if isinstance(weight, int | float) and math.isfinite(weight):
            out[str(name)] = float(weight)
    return out
