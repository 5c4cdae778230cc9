"""A trial parameter's value from the form Optuna stores it in (a choice as its index)."""

from __future__ import annotations

from functools import lru_cache

from optuna.distributions import BaseDistribution, json_to_distribution


def external_value(internal: float, distribution_json: str) -> float:
    """A parameter's value from Optuna's stored form (a choice is stored as its index)."""
    return float(distribution(distribution_json).to_external_repr(internal))


def external_choice(internal: float, distribution_json: str) -> float | str:
    """A parameter's value as the trial ran with it: a number, or a choice's label (a searched
    architecture's ``"128-64"``)."""
    value = distribution(distribution_json).to_external_repr(internal)
    return value if isinstance(value, str) else float(value)


@lru_cache(maxsize=256)
def distribution(distribution_json: str) -> BaseDistribution:
    """A stored distribution, parsed once: a study's trials share a few."""
    return json_to_distribution(distribution_json)
