"""The API reading a large study under steady load: latency percentiles and errors.

A regtune study with 10,000 finished trials (70 % COMPLETE, 30 % PRUNED; 4 parameters, a
10-epoch learning curve and 8 user attributes each) is created in PostgreSQL through the domain
(``service.studies.create_study``) and filled directly through Optuna (``study.add_trials``:
faster than training), beside 40 small studies. The API runs as its own process, as
``regtune api`` does; this process sends an open-loop 200 requests/s for 60 s (one request every
5 ms on schedule, whatever the earlier ones are doing) mixing ``GET /v1/studies/{id}`` (40 %),
pages of its trials at random offsets, a quarter of them filtered by state (40 %), and study lists
(20 %). Latency is measured from the scheduled send time, so a stalled server cannot hide its
queue (no coordinated omission). Goal: p99 under 50 ms and no error.

    python -m bench.api_load [--quick]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench import harness

GOAL_P99_MS = 50.0
IN_FLIGHT = 32
TIMEOUT_S = 10.0
GRACE_S = 60.0
MIX = (("study", 0.4), ("trial_page", 0.4), ("study_list", 0.2))


def _definition(name: str, n_trials: int) -> dict[str, Any]:
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


def _trials(n: int, seed: int) -> list[Any]:
    import optuna
    from optuna.distributions import FloatDistribution

    rng = random.Random(seed)
    dists = {
        "lambda": FloatDistribution(1e-5, 10.0, log=True),
        "l1_ratio": FloatDistribution(0.0, 1.0),
        "dropout": FloatDistribution(0.0, 0.5),
        "learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
    }
    out = []
    for _ in range(n):
        params = {
            "lambda": 10 ** rng.uniform(-5, 1),
            "l1_ratio": rng.random(),
            "dropout": rng.uniform(0, 0.5),
            "learning_rate": 10 ** rng.uniform(-4, -1),
        }
        final = rng.uniform(0.2, 1.0)
        pruned = rng.random() < 0.3
        epochs = rng.randint(1, 4) if pruned else 10
        curve = {e: final * (1 + (10 - e) / 10) for e in range(1, epochs + 1)}
        attrs = {
            "n_nonzero": rng.randint(0, 10),
            "n_weights": 10,
            "epochs_run": epochs,
            "best_epoch": epochs,
            "train_seconds": rng.uniform(0.1, 2.0),
            "stopped_early": False,
            "val_r2": 1 - final,
            "test_r2": 1 - final * 1.1,
        }
        state = optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE
        out.append(
            optuna.trial.create_trial(
                state=state,
                value=None if pruned else final,
                params=params,
                distributions=dists,
                intermediate_values=curve,
                user_attrs=attrs,
            )
        )
    return out


def add_trials(storage: Any, study_id: int, trials: list[Any], first_number: int) -> None:
    """Optuna's ``study.add_trials`` row for row, in one transaction per batch.

    ``add_trials`` writes a trial in about 56 statements (it checks the trial before each
    attribute), which for 10,000 trials takes longer than the benchmark; this builds the same rows
    with Optuna's own table models, as ``RDBStorage._get_prepared_new_trial`` does.
    """
    import json

    from optuna import distributions
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        for number, frozen in enumerate(trials, start=first_number):
            trial = models.TrialModel(study_id=study_id, number=number, state=frozen.state)
            trial.datetime_start = frozen.datetime_start
            trial.datetime_complete = frozen.datetime_complete
            if frozen.value is not None:
                stored, kind = models.TrialValueModel.value_to_stored_repr(frozen.value)
                trial.values.append(
                    models.TrialValueModel(objective=0, value=stored, value_type=kind)
                )
            for name, value in frozen.params.items():
                dist = frozen.distributions[name]
                trial.params.append(
                    models.TrialParamModel(
                        param_name=name,
                        param_value=dist.to_internal_repr(value),
                        distribution_json=distributions.distribution_to_json(dist),
                    )
                )
            for key, value in frozen.user_attrs.items():
                trial.user_attributes.append(
                    models.TrialUserAttributeModel(key=key, value_json=json.dumps(value))
                )
            for step, value in frozen.intermediate_values.items():
                stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(
                    value
                )
                trial.intermediate_values.append(
                    models.TrialIntermediateValueModel(
                        step=step, intermediate_value=stored, intermediate_value_type=kind
                    )
                )
            session.add(trial)
        session.commit()
    finally:
        session.close()


def seed_database(url: str, n_trials: int, n_small: int) -> str:
    """Create the big study (and small ones) in ``url``; return the big study's id."""
    import optuna
    from sqlalchemy import update

    from service.spec.definition import StudySpec, resolve_task
    from service.spec.enums import StudyStatus
    from service.store.db import transaction
    from service.store.migrate import upgrade
    from service.store.optuna_storage import get_storage
    from service.store.studies import create_study
    from service.store.tables import StudyRow

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    harness.use_database(url)
    upgrade(url)
    big = create_study(resolve_task(StudySpec.model_validate(_definition("big", n_trials))))
    study = optuna.load_study(study_name=big.optuna_name, storage=get_storage())
    started = time.perf_counter()
    batch = min(100, n_trials)
    study.add_trials(_trials(batch, seed=0))  # Optuna's own path for the first ones
    for start in range(batch, n_trials, 10 * batch):
        trials = _trials(min(10 * batch, n_trials - start), seed=start)
        add_trials(get_storage(), study._study_id, trials, first_number=start)
    print(f"  inserted {n_trials} trials in {time.perf_counter() - started:.0f} s", flush=True)
    last = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, n_trials - 1)
    assert study._storage.get_trial(last).number == n_trials - 1  # Optuna reads them back
    for i in range(n_small):
        create_study(resolve_task(StudySpec.model_validate(_definition(f"small-{i}", 20))))
    with transaction() as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == big.id)
            .values(status=StudyStatus.COMPLETED, n_done=n_trials)
            .execution_options(synchronize_session=False)
        )
    return big.id


def _path(kind: str, study_id: str, n_trials: int, rng: random.Random) -> str:
    if kind == "study":
        return f"/v1/studies/{study_id}"
    if kind == "trial_page":
        if rng.random() < 0.25:
            state = rng.choice(["COMPLETE", "PRUNED"])
            offset = rng.randrange(0, n_trials // 4)
            return f"/v1/studies/{study_id}/trials?state={state}&offset={offset}&limit=50"
        return f"/v1/studies/{study_id}/trials?offset={rng.randrange(0, n_trials)}&limit=50"
    status = rng.choice(["", "?status=completed", "?status=queued"])
    return f"/v1/studies{status}"


async def _load(base: str, study_id: str, n_trials: int, rate: float, seconds: float) -> list[Any]:
    """Open loop: request i is due at ``i / rate``; its latency counts from then.

    At most ``IN_FLIGHT`` requests are outstanding (a waiting request's clock keeps running), so
    a server that falls behind shows as latency rather than swamping the client; a request not
    answered within ``TIMEOUT_S``, or still waiting ``GRACE_S`` after the last was due, counts
    as an error.
    """
    import httpx

    rng = random.Random(0)
    kinds, weights = zip(*MIX, strict=True)
    results: list[tuple[str, float, int | str]] = []
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT_S, limits=limits) as client:

        async def one(kind: str, path: str, scheduled: float) -> None:
            status: int | str = "not answered"
            try:
                async with gate:
                    try:
                        response = await client.get(path)
                        status = response.status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
            finally:
                results.append((kind, time.perf_counter() - scheduled, status))

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = rng.choices(kinds, weights)[0]
            path = _path(kind, study_id, n_trials, rng)
            tasks.append(asyncio.create_task(one(kind, path, scheduled)))
        _, late = await asyncio.wait(tasks, timeout=GRACE_S)
        for task in late:  # the server fell hopelessly behind: what is left counts as errors
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        elapsed = time.perf_counter() - start
    print(f"  sent {len(results)} requests in {elapsed:.1f} s", flush=True)
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(results: list[Any], seconds: float) -> tuple[list[dict[str, Any]], str]:
    rows = []
    for kind in [k for k, _ in MIX] + ["all"]:
        picked = [r for r in results if kind in ("all", r[0])]
        ms = [1000 * r[1] for r in picked]
        errors = sum(not (isinstance(r[2], int) and r[2] < 400) for r in picked)
        rows.append(
            {
                "requests": kind,
                "count": len(picked),
                "rate_per_s": len(picked) / seconds,
                "p50_ms": _percentile(ms, 0.50),
                "p90_ms": _percentile(ms, 0.90),
                "p99_ms": _percentile(ms, 0.99),
                "max_ms": max(ms),
                "mean_ms": statistics.mean(ms),
                "errors": errors,
            }
        )
    headers = ["requests", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"]
    table_rows = [
        [
            r["requests"],
            r["count"],
            round(r["rate_per_s"], 1),
            round(r["p50_ms"], 1),
            round(r["p90_ms"], 1),
            round(r["p99_ms"], 1),
            round(r["max_ms"], 1),
            r["errors"],
        ]
        for r in rows
    ]
    overall = rows[-1]
    verdict = (
        f"p99 {overall['p99_ms']:.1f} ms against a goal of {GOAL_P99_MS:.0f} ms "
        f"({'met' if overall['p99_ms'] < GOAL_P99_MS else 'missed'}); "
        f"{overall['errors']} errors"
    )
    return rows, harness.table(headers, table_rows) + "\n\n" + verdict


def run(quick: bool, tmp: Path) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    n_trials, n_small, rate, seconds = (200, 3, 50.0, 3.0) if quick else (10_000, 40, 200.0, 60.0)
    with harness.postgres() as server:
        url = server.create_database("api_load")
        study_id = seed_database(url, n_trials, n_small)
        with harness.Service(url, tmp) as service:
            service.start_api()
            results = asyncio.run(_load(service.url, study_id, n_trials, rate, 2.0))  # warm-up
            results = asyncio.run(_load(service.url, study_id, n_trials, rate, seconds))
    rows, markdown = summarize(results, seconds)
    setup = {"n_trials": n_trials, "n_small_studies": n_small, "rate": rate, "seconds": seconds}
    return rows, markdown, setup


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    with harness.scratch("api-load") as tmp:
        rows, markdown, setup = run(args.quick, tmp)
    payload = {"quick": args.quick, "setup": setup, "goal_p99_ms": GOAL_P99_MS, "rows": rows}
    harness.publish(args.out, "api_load", payload, markdown)


if __name__ == "__main__":
    main()
