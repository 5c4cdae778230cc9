"""The line Optuna logs when ``Study.optimize`` ends a trial, for the trials regtune ends without
it: a fused pass's members, each told on its own (``Study.tell`` logs nothing), and a λ path's
further points, written as finished trials in one batch. Same words, level and logger as
``optimize``'s (``optuna.study._optimize._run_trial``), so a study's log reads alike however its
trials ran, and Optuna's verbosity setting governs them all."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from regtune.service.store.optuna_db.internals.handles import OPTUNA_TRIAL_LOGGER

COMPLETED_LOGGER = "optuna.study.study"
"""Where Optuna logs "Trial N finished with value: …" (``Study._log_completed_trial``)."""


def log_told(study: optuna.Study, trial: FrozenTrial, *, pruned: str = "") -> None:
    """``trial`` as ``optimize`` logs its end once told: COMPLETE with its value(s), parameters
    and the study's best trial (Optuna's own ``_log_completed_trial``), PRUNED with why
    (``pruned``: the ``TrialPruned``'s message). A FAIL is ``log_failed``'s."""
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        study._log_completed_trial(trial.values, trial.number, trial.params)
    elif trial.state == TrialState.PRUNED:
        logging.getLogger(OPTUNA_TRIAL_LOGGER).info(f"Trial {trial.number} pruned. {pruned}")


def log_failed(
    trial: FrozenTrial | optuna.Trial, exc: BaseException, *, traceback: bool = True
) -> None:
    """``trial`` ended by ``exc`` (its own error, a hand-back, its study's end), as ``optimize``
    logs a trial that raised: Optuna's words and logger, with the traceback unless
    ``traceback`` is False (the worker's filter takes it off a hand-back's or a stop's line, as
    off ``optimize``'s)."""
    logging.getLogger(OPTUNA_TRIAL_LOGGER).warning(
        f"Trial {trial.number} failed with parameters: {trial.params} because of the following "
        f"error: {exc!r}.",
        exc_info=(type(exc), exc, exc.__traceback__) if traceback else None,
        extra={"trial": trial.number},
    )


def log_written(trials: Sequence[FrozenTrial], metric_names: Sequence[str]) -> None:
    """Finished ``trials`` written in one batch, each as ``optimize`` logs a COMPLETE trial but
    for the study's best, which Optuna reads for each line (a read per point of a path); each
    line's ``trial`` field is its own trial's."""
    logger = logging.getLogger(COMPLETED_LOGGER)
    if not logger.isEnabledFor(logging.INFO):
        return
    for trial in trials:
        logger.info(
            f"Trial {trial.number} finished with {_shown(trial.values or [], metric_names)} "
            f"and parameters: {trial.params}.",
            extra={"trial": trial.number},
        )


def _shown(values: list[float], names: Sequence[str]) -> str:
    """A trial's values as Optuna's line shows them: by the study's metric names if it has
    them (``value: {'val_loss': 0.25}``), bare if not; ``values:`` for several."""
    named = dict(zip(names, values, strict=True)) if len(names) == len(values) else None
    if len(values) == 1:
        return f"value: {values[0] if named is None else named}"
    return f"values: {values if named is None else named}"
