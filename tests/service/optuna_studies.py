"""A new Optuna study on a migrated test database, for the store's best-trial rules, and
finished trials written into a study at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import optuna
from optuna.trial import FrozenTrial
from sqlalchemy.engine import Engine

from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.internals.handles import engine_of, study_id_of
from regtune.service.store.optuna_db.internals.inserts import add_trials as write_trials
from regtune.service.store.scheduling.retries import storage_with_retries


def directed_study(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> tuple[Engine, optuna.Study, float]:
    """The migrated database's engine, a new study on it that goes in ``direction``, and the
    sign that turns a loss (lower is better) into a value of that direction."""
    upgrade(database_url)
    engine = make_engine(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url), direction=direction)
    return engine, study, 1.0 if direction == "minimize" else -1.0


def add_trials(study: optuna.Study, trials: Sequence[FrozenTrial]) -> None:
    """Write the finished ``trials`` into ``study`` in one transaction, as a worker writes a λ
    path's points: the rows ``study.add_trials`` makes, which commits each trial and each
    attribute on its own (a few hundred trials took tens of seconds of a test's setup)."""
    with transaction(engine_of(study)) as session:
        write_trials(session, study_id_of(study), list(trials))
