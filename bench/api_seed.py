"""A large finished study for the API benchmark, created through the domain, filled in bulk.

The study is created as users create one
(``regtune.service.store.repos.study_creation.create_study``); its
first trials go through Optuna's own ``study.add_trials``, the rest are written with PostgreSQL's
``COPY`` into Optuna's tables, row for row what ``add_trials`` writes (70 % COMPLETE, 30 % PRUNED;
4 parameters, a learning curve of up to 10 epochs and 8 user attributes each). Optuna then reads
the last trial back, so the rows are known to be ones Optuna understands. 100,000 trials take
about a minute instead of the hour ``add_trials`` would.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from optuna.distributions import BaseDistribution, FloatDistribution, distribution_to_json

DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "lambda": FloatDistribution(1e-5, 10.0, log=True),
    "l1_ratio": FloatDistribution(0.0, 1.0),
    "dropout": FloatDistribution(0.0, 0.5),
    "learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
}
OPTUNA_BATCH = 100
"""Trials written through Optuna's own ``add_trials`` before the bulk copy."""


def definition(name: str, n_trials: int) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 10.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "dropout": {"low": 0.0, "high": 0.5},
            "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        },
        "training": {"solver": "minibatch", "max_epochs": 10},
        "budget": {"n_trials": n_trials},
    }


def _trial(rng: random.Random, number: int) -> dict[str, Any]:
    """One finished trial's contents, as the regtune worker would have recorded them."""
    final = rng.uniform(0.2, 1.0)
    pruned = rng.random() < 0.3
    epochs = rng.randint(1, 4) if pruned else 10
    seconds = rng.uniform(0.1, 2.0)
    start = datetime(2026, 1, 1) + timedelta(seconds=2 * number)
    return {
        "state": "PRUNED" if pruned else "COMPLETE",
        "value": None if pruned else final,
        "start": start,
        "complete": start + timedelta(seconds=seconds),
        "params": {
            "lambda": 10 ** rng.uniform(-5, 1),
            "l1_ratio": rng.random(),
            "dropout": rng.uniform(0, 0.5),
            "learning_rate": 10 ** rng.uniform(-4, -1),
        },
        "curve": {e: final * (1 + (10 - e) / 10) for e in range(1, epochs + 1)},
        "attrs": {
            "n_nonzero": rng.randint(0, 10),
            "n_weights": 10,
            "epochs_run": epochs,
            "best_epoch": epochs,
            "train_seconds": seconds,
            "stopped_early": False,
            "val_r2": 1 - final,
            "test_r2": 1 - final * 1.1,
        },
    }


def _frozen(content: dict[str, Any]) -> Any:
    import optuna

    return optuna.trial.create_trial(
        state=optuna.trial.TrialState[content["state"]],
        value=content["value"],
        params=content["params"],
        distributions=DISTRIBUTIONS,
        intermediate_values=content["curve"],
        user_attrs=content["attrs"],
    )


def _copy_rows(
    optuna_study_id: int, first_id: int, first_number: int, n: int, seed: int
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    rng = random.Random(seed)
    dists = {name: distribution_to_json(d) for name, d in DISTRIBUTIONS.items()}
    for i in range(n):
        trial_id, number = first_id + i, first_number + i
        trial = _trial(rng, number)
        yield (
            "trials",
            (trial_id, number, optuna_study_id, trial["state"], trial["start"], trial["complete"]),
        )
        if trial["value"] is not None:
            yield "trial_values", (trial_id, 0, trial["value"], "FINITE")
        for name, value in trial["params"].items():
            yield "trial_params", (trial_id, name, value, dists[name])
        for key, value in trial["attrs"].items():
            yield "trial_user_attributes", (trial_id, key, json.dumps(value))
        for step, value in trial["curve"].items():
            yield "trial_intermediate_values", (trial_id, step, value, "FINITE")


COLUMNS = {
    "trials": "trial_id, number, study_id, state, datetime_start, datetime_complete",
    "trial_values": "trial_id, objective, value, value_type",
    "trial_params": "trial_id, param_name, param_value, distribution_json",
    "trial_user_attributes": "trial_id, key, value_json",
    "trial_intermediate_values": ("trial_id, step, intermediate_value, intermediate_value_type"),
}


def bulk_copy(url: str, optuna_study_id: int, first_number: int, n: int, seed: int) -> None:
    """Append ``n`` finished trials to an Optuna study with ``COPY`` (PostgreSQL only)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        sequence = conn.execute("SELECT pg_get_serial_sequence('trials', 'trial_id')").fetchone()
        assert sequence is not None
        conn.execute("LOCK TABLE trials IN EXCLUSIVE MODE")  # nobody else takes ids meanwhile
        row = conn.execute(f"SELECT nextval('{sequence[0]}')").fetchone()
        assert row is not None
        first_id = int(row[0])
        conn.execute(f"SELECT setval('{sequence[0]}', {first_id + n - 1})")
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
        for table, values in _copy_rows(optuna_study_id, first_id, first_number, n, seed):
            rows[table].append(values)
        with conn.cursor() as cursor:
            for table, columns in COLUMNS.items():
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for values in rows[table]:
                        copy.write_row(values)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in COLUMNS:
            conn.execute(f"VACUUM ANALYZE {table}")  # what autovacuum would have done by now


def seed_database(url: str, n_trials: int, n_small: int, optuna_batch: int = OPTUNA_BATCH) -> str:
    """Create the big study (and ``n_small`` empty ones) in ``url``; return the big study's id.
    The first ``optuna_batch`` trials go through Optuna's ``add_trials``, the rest are copied."""
    import optuna
    from sqlalchemy import update

    from bench import harness
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.enums import StudyStatus
    from regtune.service.spec.resolve import resolve_task
    from regtune.service.store.db import transaction
    from regtune.service.store.migrate import upgrade
    from regtune.service.store.repos.study_creation import create_study
    from regtune.service.store.scheduling.retries import get_storage
    from regtune.service.store.tables import StudyRow

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ["REGTUNE_MAX_TRIALS_PER_STUDY"] = str(max(n_trials, 10_000))
    harness.use_database(url)
    upgrade(url)
    big = create_study(resolve_task(StudySpec.model_validate(definition("big", n_trials))))
    study = optuna.load_study(study_name=big.optuna_name, storage=get_storage())
    started = time.perf_counter()
    rng = random.Random(0)
    first = min(optuna_batch, n_trials)
    study.add_trials([_frozen(_trial(rng, number)) for number in range(first)])
    if n_trials > first:
        bulk_copy(url, study._study_id, first, n_trials - first, seed=1)
    print(f"  inserted {n_trials} trials in {time.perf_counter() - started:.0f} s", flush=True)
    storage = study._storage
    last = storage.get_trial(
        storage.get_trial_id_from_study_id_trial_number(study._study_id, n_trials - 1)
    )
    assert last.number == n_trials - 1 and last.params.keys() == DISTRIBUTIONS.keys()
    for i in range(n_small):
        create_study(resolve_task(StudySpec.model_validate(definition(f"small-{i}", 20))))
    with transaction() as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == big.id)
            .values(status=StudyStatus.COMPLETED, n_done=n_trials)
            .execution_options(synchronize_session=False)
        )
    return big.id
