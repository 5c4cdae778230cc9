"""Optuna's tables and what a ``Study`` or ``Trial`` keeps privately: ``om`` (its SQLAlchemy
models, for reads and counts in SQL), a study's storage, row ids and the database under them."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb import models as _optuna_models
from optuna.trial import BaseTrial
from sqlalchemy import Engine

om: Any = _optuna_models
"""Optuna's SQLAlchemy models (untyped)."""


OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"
"""Where Optuna logs "Trial N failed … because of the following error" (with a traceback)."""


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes through (Optuna wraps an RDBStorage in a cache)."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The study's row id in Optuna's ``studies`` table."""
    return int(study._study_id)


def trial_id_of(trial: BaseTrial) -> int:
    """The trial's row id in Optuna's ``trials`` table (a live or a frozen trial)."""
    return int(trial._trial_id)  # type: ignore[attr-defined]


def backend_of(storage: BaseStorage) -> BaseStorage:
    """The storage under Optuna's cache (``storage`` itself if it is not cached)."""
    return storage._backend if isinstance(storage, _CachedStorage) else storage


def engine_of(study: optuna.Study) -> Engine:
    """The engine of the database a study is stored in."""
    storage = backend_of(study._storage)
    if not isinstance(storage, RDBStorage):
        raise TypeError(f"study {study.study_name!r} is not in a database: {type(storage)}")
    return storage.engine
