"""The line Optuna logs when ``Study.optimize`` ends a trial, for the trials regtune ends without
it: a fused pass's members, each told on its own (``Study.tell`` logs nothing). Same words, level
and logger as ``optimize``'s (``optuna.study._optimize._run_trial``), so a study's log reads
alike however its trials ran, and Optuna's verbosity setting governs them all."""

from __future__ import annotations

import logging

import optuna
from optuna.trial import FrozenTrial, TrialState

from regtune.service.store.optuna_db.internals.handles import OPTUNA_TRIAL_LOGGER

COMPLETED_LOGGER = "optuna.study.study"
"""Where Optuna logs "Trial N finished with value: …" (``Study._log_completed_trial``)."""


def log_told(study: optuna.Study, trial: FrozenTrial, *, pruned: str = "") -> None:
    """``trial`` as ``optimize`` logs its end once told: COMPLETE with its value(s), parameters
    and the study's best trial (Optuna's own ``_log_completed_trial``), PRUNED with why
    (``pruned``: the ``TrialPruned``'s message). A FAIL is Optuna's ``tell``'s to warn of."""
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        study._log_completed_trial(trial.values, trial.number, trial.params)
    elif trial.state == TrialState.PRUNED:
        logging.getLogger(OPTUNA_TRIAL_LOGGER).info(f"Trial {trial.number} pruned. {pruned}")
