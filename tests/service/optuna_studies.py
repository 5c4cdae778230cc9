"""A new Optuna study on a migrated test database, for the store's best-trial rules."""

from __future__ import annotations

import optuna
from sqlalchemy.engine import Engine

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import storage_with_retries


def directed_study(database_url: str, direction: str) -> tuple[Engine, optuna.Study, float]:
    """The migrated database's engine, a new study on it that goes in ``direction``, and the
    sign that turns a loss (lower is better) into a value of that direction."""
    upgrade(database_url)
    engine = make_engine(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url), direction=direction)
    return engine, study, 1.0 if direction == "minimize" else -1.0
