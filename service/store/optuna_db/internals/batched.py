"""Several reports, user attributes or parameters of a live ``optuna.Trial`` written in one
transaction where its storage is regtune's (one write each with any other storage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from regtune.service.store.optuna_db.internals.handles import backend_of, trial_id_of
from regtune.service.store.optuna_db.internals.one_statement import OneStatementTrialWrites
from regtune.service.store.optuna_db.internals.running_writes import RunningTrialWrites


def note_report(trial: optuna.Trial, step: int, value: float) -> bool:
    """``trial.report(value, step)`` as the trial itself sees it (its pruner reads it at once);
    True: its row is left to ``write_reports``, which writes several in one transaction; False:
    nothing is left to write: the storage cannot batch, and ``Trial.report`` wrote it now, or
    ``step`` was reported already, which Optuna ignores (keeping the first value) with a
    warning, as here."""
    batching = isinstance(backend_of(trial.storage), OneStatementTrialWrites)
    if not batching or step in trial._cached_frozen_trial.intermediate_values:
        trial.report(value, step)
        return False
    trial._cached_frozen_trial.intermediate_values[step] = float(value)
    return True


def write_reports(reports: Sequence[tuple[optuna.Trial, int, float]]) -> None:
    """The rows of reports ``note_report`` left (every trial on one batching storage), in one
    transaction."""
    if not reports:
        return
    backend = backend_of(reports[0][0].storage)
    assert isinstance(backend, OneStatementTrialWrites), "note_report wrote the others"
    backend.set_trials_intermediate_values(
        [(trial_id_of(trial), step, float(value)) for trial, step, value in reports]
    )


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr`` for every item, in one transaction where the storage can."""
    backend = backend_of(trial.storage)
    if not isinstance(backend, OneStatementTrialWrites):
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    backend.set_trial_user_attrs(trial_id_of(trial), attrs)
    trial._cached_frozen_trial.user_attrs.update(attrs)


def note_params(
    trial: optuna.Trial,
    params: Mapping[str, Any],
    distributions: Mapping[str, BaseDistribution],
) -> None:
    """Parameters of ``trial`` stored without ``suggest`` (a λ path's λ and relax, written with
    its points), in the trial's own view as ``suggest`` leaves its own: ``trial.params``, and
    the line Optuna logs at the trial's end, show them."""
    trial._cached_frozen_trial.params.update(params)
    trial._cached_frozen_trial.distributions.update(distributions)


@contextmanager
def params_together(trial: optuna.Trial) -> Iterator[None]:
    """Write the parameters ``trial`` suggests in this block in one transaction at its end
    (``RunningTrialWrites.params_together``; one write each with any other storage)."""
    backend = backend_of(trial.storage)
    if not isinstance(backend, RunningTrialWrites):
        yield
        return
    with backend.params_together(trial._trial_id):
        yield
