"""Hyperband whose brackets follow a stored key, not the study's name (Optuna's private
``_get_bracket_id``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import optuna
from optuna.trial import FrozenTrial


class KeyedHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with a trial's bracket drawn from ``key`` and the trial's number, where
    Optuna draws it from the study's name (its private ``_get_bracket_id``, a CRC of
    ``f"{study_name}_{number}"``). A regtune study's Optuna name carries its id, new for every
    submission, so the same definition put its trials in other brackets each time and pruned
    others; keyed by the stored sampler seed, it prunes the same trials again."""

    def __init__(self, *, key: str, **options: Any) -> None:
        super().__init__(**options)
        self._key = key

    def _get_bracket_id(self, study: optuna.Study, trial: FrozenTrial) -> int:
        named: Any = SimpleNamespace(study_name=self._key)  # all Optuna's rule reads of it
        return int(super()._get_bracket_id(named, trial))
