"""λ-path trials: configurations per second, and regtune against scikit-learn's CV estimators.

0. **CPU seconds per configuration** (what load does not change): the diabetes study below run
   by one worker in this process on a SQLite file, with one trial per claim and with paths of
   10, 20 and 50 points, 400 configurations each (claims, solves, writes and the best model's
   refit all counted).

The rest runs on one ``regtune serve --workers 2`` (SQLite), studies submitted over HTTP one
after another:

1. **Throughput, side by side**: the same linear study (diabetes, 5-fold CV, TPE, ``--trials``
   configurations) run with λ paths (``training.lambda_path``, the default) and with one trial per
   claim (``lambda_path: null``); configurations per second from the study's first claim to its
   last finish (``started_at`` → ``finished_at``), and their ratio (goal ≥ 20×). Beside them,
   the baseline of short trials: the one-trial-per-claim study's own objective
   (``make_objective``) run by ``study.optimize`` in the bench's process with Optuna's in-memory
   storage, one configuration per trial; each study's wall time over it (goal ≤ 2× at 1,000
   trials with 2 workers).
2. **Against scikit-learn**, per dataset of ``bench.quality``: the non-test rows of split 0
   uploaded as a CSV, then a linear study of as many configurations as scikit-learn's CV
   estimator scores (``ElasticNetCV``: 100 α × 7 l1_ratio = 700; ``LassoCV``: 100; elastic-net
   ``LogisticRegressionCV``: 10 C × 3 l1_ratio = 30), 5-fold CV like it; wall time from the
   submission to the best model saved (its record's time), against the estimator's ``fit`` on
   the same rows (goal ≤ 2×), with both test metrics on split 0's test rows (regtune's saved
   model downloaded and scored as ``regtune predict`` scores a file: an upload under folds holds
   no test split of its own); and when the client saw the model (one
   request the API holds until then, ``?wait=``).

A λ-path study takes about half a second here, so one run of it is at the mercy of the machine's
noise: (1) and (2) run each path study and each scikit-learn fit ``--repeats`` times and
compare their medians (the range beside them); the one-trial-per-claim study, a few seconds
long, runs once.

``--versus-relax 0`` runs each regression study of (2) a second time, with
``search_space.relax: 0`` (the elastic net alone) instead of the default's relaxed paths,
alternating with it, and adds a table of the two side by side.

``--cpu-only`` runs (0) alone, on ``--cpu-dataset`` (diabetes, or another dataset of
``bench.quality``, its larger ones included: ``sparse-20k``, ``friedman1-20k``, 20,000 rows,
where a path's per-fold work on the rows shows) with ``--cpu-trials`` configurations (400): a
whole process short enough to time one version of the code against another, in turn.
``--datasets`` takes the larger ones too, for (2).

``--quick`` checks the script runs (``QUICK_CONFIGURATIONS`` configurations, diabetes only, a
small scikit-learn grid, ``regtune serve --workers 1``, one run of each).

    python -m bench.paths [--quick] [--trials 300] [--datasets diabetes,iris] [--repeats 5]
        [--versus-relax 0] [--cpu-only] [--cpu-dataset sparse-20k] [--cpu-trials 200]
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.quality import (
    DATASETS,
    FOLDS,
    METRIC,
    _split,
    default_configurations,
    run_sklearn,
)
from bench.quality import definition as quality_definition
from tests.support import wait_for

QUICK_CONFIGURATIONS = 10
CPU_CONFIGURATIONS = 400
WORKERS = 2
HOLD = 30
"""Seconds the API holds each answer to the waiting client (``?wait=``): it asks, not polls."""
"""``regtune serve``'s workers (1 with ``--quick``)."""
REPEATS = 5


def study(dataset: str, n_trials: int, *, name: str, paths: bool) -> dict[str, Any]:
    """``bench.quality``'s linear study with 5-fold CV; λ paths on (the default) or off."""
    spec = quality_definition(dataset, 0, n_trials)
    spec["name"] = name
    spec["validation"] = {"folds": FOLDS, "split_seed": 0}
    spec["budget"] = {"n_trials": n_trials, "max_parallel": 2}
    if not paths:
        spec["training"] = {"lambda_path": None}
    return spec


def sklearn_configurations(dataset: str, task: str, quick: bool) -> int:
    """How many configurations the CV estimator scores (each on every fold): the regression
    estimators' default grid (100 α × 7 l1 ratios), 10 C × 3 l1 ratios for classification."""
    return QUICK_CONFIGURATIONS if quick else default_configurations(task)


def _seconds(started: str | None, finished: str | None) -> float:
    assert started and finished, "the study has not run"
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def run_study(client: httpx.Client, spec: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Submit, wait for the best model → the study, with ``saved_s`` (submission → the model's
    record written, by the shared clock) and ``wall_s`` (submission → the client seeing it: the
    client asks the API to hold its answer until then, ``?wait=``, instead of polling, and
    asks ``no-cache``: an API process answers a study's row from memory for up to
    ``RECENT_SECONDS`` otherwise)."""
    began, began_at = time.perf_counter(), time.time()
    created = client.post("/v1/studies", json=spec)
    created.raise_for_status()
    study_id = created.json()["id"]

    def saved() -> dict[str, Any] | None:  # held by the API until the model is saved
        found: dict[str, Any] = client.get(
            f"/v1/studies/{study_id}", headers=harness.FRESH, params={"wait": HOLD}
        ).json()
        if found["status"] == "completed" and found["best_model"] is not None:
            return found
        assert found["status"] in ("queued", "running", "completed"), found
        return None

    found = wait_for(saved, timeout=timeout, interval=0.05, what=f"study {spec['name']}")
    found["wall_s"] = time.perf_counter() - began
    saved_at = datetime.fromisoformat(found["best_model"]["created_at"]).timestamp()
    found["saved_s"] = saved_at - began_at
    found["run_s"] = _seconds(found["started_at"], found["finished_at"])
    return found


def in_memory(n_trials: int) -> dict[str, Any]:
    """The one-trial-per-claim study's objective in this process, Optuna's in-memory storage."""
    import optuna
    import torch

    from regtune.service.api.studies import admit
    from regtune.service.settings import get_settings
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what a worker uses (REGTUNE_TORCH_THREADS)
    definition = study("diabetes", n_trials, name="in-memory", paths=False)
    spec = admit(definition, tenant="default", settings=get_settings())
    optuna_study = optuna.create_study(
        direction=spec.objective.direction or "minimize",
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    objective = make_objective(spec, stop_check=lambda: None)
    optuna_study.optimize(objective, n_trials=2)  # data loading, torch's first calls: start-up
    started = time.perf_counter()
    optuna_study.optimize(objective, n_trials=n_trials)
    torch.set_num_threads(threads)
    seconds = time.perf_counter() - started
    print(f"  in memory: {n_trials} in {seconds:.2f} s", flush=True)
    return {
        "study": "Optuna in-memory, one process (the same objective)",
        "configurations": n_trials,
        "run_s": seconds,
        "per_s": n_trials / seconds,
    }


def _spread(values: list[float]) -> str:
    return f"{min(values):.3g}–{max(values):.3g} ({len(values)})" if len(values) > 1 else ""


def throughput(
    client: httpx.Client, n_trials: int, baseline: dict[str, Any], repeats: int
) -> list[dict[str, Any]]:
    # both workers load torch and the data first: start-up is no study's cost
    run_study(client, study("diabetes", 4, name="warm-up", paths=False), timeout=600)
    rows = []
    for paths in (True, False):
        seconds, done = [], 0
        for run in range(repeats if paths else 1):
            name = f"throughput-{'paths' if paths else 'single'}-{run}"
            spec = study("diabetes", n_trials, name=name, paths=paths)
            found = run_study(client, spec, timeout=3600)
            done = found["progress"]["done"]
            seconds.append(found["run_s"])
            print(f"  {name}: {done} in {found['run_s']:.2f} s", flush=True)
        median = statistics.median(seconds)
        rows.append(
            {
                "study": "λ paths" if paths else "one trial per claim",
                "configurations": done,
                "run_s": median,
                "runs_s": seconds,
                "spread": _spread(seconds),
                "per_s": done / median,
            }
        )
    rows[0]["ratio"] = rows[0]["per_s"] / rows[1]["per_s"]
    rows.append(baseline)
    for row in rows:
        row["vs_in_memory"] = row["run_s"] / baseline["run_s"]
    return rows


def against_sklearn(
    client: httpx.Client,
    dataset: str,
    quick: bool,
    tmp: Path,
    repeats: int,
    versus_relax: float | None = None,
) -> dict[str, Any]:
    """(2) for one dataset; ``versus_relax``: each run of a regression's study is followed by
    the same study with ``search_space.relax`` that value instead of the default's."""
    import pandas as pd

    loaded, rest, test = _split(dataset, 0)
    configurations = sklearn_configurations(dataset, loaded.task, quick)
    for rows, name in ((rest, dataset), (test, f"{dataset}-test")):
        frame = pd.DataFrame(loaded.X[rows], columns=loaded.feature_names)
        frame["target"] = loaded.y[rows]
        frame.to_csv(tmp / f"{name}.csv", index=False)
    csv, test_csv = tmp / f"{dataset}.csv", tmp / f"{dataset}-test.csv"
    with csv.open("rb") as handle:
        uploaded = client.post(
            "/v1/datasets",
            files={"file": (csv.name, handle)},
            data={"target": "target", "task": loaded.task},  # iris's 0/1/2: classes, not values
        )
    uploaded.raise_for_status()
    ours, theirs, versus = [], [], []
    for run in range(repeats):
        spec = study(dataset, configurations, name=f"sklearn-{dataset}-{run}", paths=True)
        spec["dataset"] = {"id": uploaded.json()["id"]}
        ours.append(run_study(client, spec, timeout=3600))
        if versus_relax is not None and loaded.task == "regression":
            spec = {
                **spec,
                "name": f"{spec['name']}-relax",
                "search_space": {**spec["search_space"]},
            }
            spec["search_space"]["relax"] = versus_relax
            versus.append(run_study(client, spec, timeout=3600)["saved_s"])
        theirs.append(run_sklearn(dataset, 0, configurations, quick))
    saved = [found["saved_s"] for found in ours]
    compared = {}
    if versus:
        compared = {
            "versus_relax": versus_relax,
            "versus_s": statistics.median(versus),
            "versus_runs_s": versus,
            "versus_spread": _spread(versus),
            "versus_ratio": statistics.median(saved) / statistics.median(versus),
        }
    fits = [fit["wall_s"] for fit in theirs]
    metric = METRIC[loaded.task]
    print(f"  {dataset}: regtune {saved} s, sklearn {fits} s", flush=True)
    return {
        "dataset": dataset,
        "configurations": configurations,
        "regtune_s": statistics.median(saved),
        "regtune_runs_s": saved,
        "regtune_spread": _spread(saved),
        "regtune_seen_s": statistics.median(found["wall_s"] for found in ours),
        "sklearn_s": statistics.median(fits),
        "sklearn_runs_s": fits,
        "sklearn_spread": _spread(fits),
        "ratio": statistics.median(saved) / statistics.median(fits),
        "metric": metric,
        "regtune_test": _scored(client, ours[0]["id"], test_csv, tmp)[metric],
        "run_s": statistics.median(found["run_s"] for found in ours),
        "sklearn_test": theirs[0]["test"],
        **compared,
    }


def cpu_per_configuration(
    n_trials: int, points: list[int | None], tmp: Path, dataset: str = "diabetes"
) -> list[dict[str, Any]]:
    """CPU seconds per configuration of the ``dataset`` study, one worker in this process
    (claims, solves, writes, the best model's refit): a figure the machine's load does not
    change."""
    import optuna

    from regtune.service.store.migrate import upgrade

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = harness.fresh_database("sqlite", tmp, None, "cpu")
    harness.use_database(url)
    upgrade(url)
    rows: list[dict[str, Any]] = []
    for n, length in [(4, None), *((n_trials, p) for p in points)]:  # a warm-up first
        spec = study(dataset, n, name=f"cpu-{length}-{n}", paths=length is not None)
        if length is not None:
            spec["training"] = {"lambda_path": {"points": length}}
        _, seconds = harness.run_in_process(spec)
        if n == n_trials:
            rows.append(
                {
                    "study": f"paths of {length} points" if length else "one trial per claim",
                    "configurations": n,
                    "cpu_s": seconds,
                    "cpu_s_per_configuration": seconds / n,
                }
            )
            print(f"  {rows[-1]['study']}: {seconds:.2f} CPU s", flush=True)
    single = next(r for r in rows if r["study"] == "one trial per claim")
    for r in rows:
        r["ratio"] = single["cpu_s_per_configuration"] / r["cpu_s_per_configuration"]
    return rows


def _scored(client: httpx.Client, study_id: str, test_csv: Path, tmp: Path) -> dict[str, float]:
    """The study's saved model, downloaded, scored on the split's test rows (scikit-learn's
    test rows too) as ``regtune predict`` scores a file."""
    from regtune.service.model.saved import load

    path = tmp / f"best-{study_id}.safetensors"
    response = client.get(f"/v1/studies/{study_id}/best-model")
    response.raise_for_status()
    path.write_bytes(response.content)
    saved = load(path)
    rows = saved.read(test_csv.read_bytes(), filename=test_csv.name)
    assert rows.y is not None
    return saved.score(rows.X, rows.y)


def measure(
    quick: bool,
    n_trials: int,
    datasets: list[str],
    repeats: int,
    versus_relax: float | None = None,
    cpu_dataset: str = "diabetes",
    cpu_trials: int = CPU_CONFIGURATIONS,
    cpu_only: bool = False,
) -> dict[str, Any]:
    workers = 1 if quick else WORKERS
    with harness.scratch("paths") as tmp:
        lengths: list[int | None] = [None, 5] if quick else [None, 10, 20, 50]
        cpu_n = QUICK_CONFIGURATIONS if quick else cpu_trials
        cpu = cpu_per_configuration(cpu_n, lengths, tmp, cpu_dataset)
        if cpu_only:
            return {"cpu": cpu, "cpu_dataset": cpu_dataset, "workers": workers}
        baseline = in_memory(n_trials)
        url = harness.fresh_database("sqlite", tmp, None, "paths")
        env = {"REGTUNE_ARTIFACT_DIR": str(tmp / "artifacts"), "REGTUNE_POLL_MAX": "0.2"}
        with harness.Service(url, tmp, **env) as service:
            service.start_serve(workers=workers)
            with httpx.Client(base_url=service.url, timeout=60) as client:
                rates = throughput(client, n_trials, baseline, repeats)
                versus = [
                    against_sklearn(client, d, quick, tmp, repeats, versus_relax) for d in datasets
                ]
    return {
        "cpu": cpu,
        "throughput": rates,
        "sklearn": versus,
        "cpu_dataset": cpu_dataset,
        "workers": workers,
        "repeats": repeats,
    }


def summarize(result: dict[str, Any]) -> str:
    cpu = harness.table(
        [
            f"study ({result.get('cpu_dataset', 'diabetes')}, 5-fold, one worker in process)",
            "configurations",
            "CPU s",
            "CPU s per configuration",
            "vs one trial per claim",
        ],
        [
            [r["study"], r["configurations"], r["cpu_s"], r["cpu_s_per_configuration"], r["ratio"]]
            for r in result["cpu"]
        ],
    )
    if "throughput" not in result:  # --cpu-only
        return cpu
    rates = harness.table(
        [
            "study (diabetes, 5-fold)",
            "configurations",
            "seconds (median)",
            "range (runs)",
            "configurations/s",
            "paths over one trial per claim",
            "wall × in-memory Optuna",
        ],
        [
            [
                r["study"],
                r["configurations"],
                r["run_s"],
                r.get("spread", ""),
                r["per_s"],
                r.get("ratio", ""),
                r["vs_in_memory"],
            ]
            for r in result["throughput"]
        ],
    )
    versus = harness.table(
        [
            "dataset",
            "configurations",
            f"regtune serve s ({result['workers']} worker(s)): submitted → model saved (median)",
            "range (runs)",
            "the client saw it at",
            "scikit-learn s (median)",
            "range (runs)",
            "ratio of the medians",
            "metric",
            "regtune test",
            "scikit-learn test",
        ],
        [
            [
                r["dataset"],
                r["configurations"],
                r["regtune_s"],
                r.get("regtune_spread", ""),
                r["regtune_seen_s"],
                r["sklearn_s"],
                r.get("sklearn_spread", ""),
                r["ratio"],
                r["metric"],
                r["regtune_test"],
                r["sklearn_test"],
            ]
            for r in result["sklearn"]
        ],
    )
    compared = [r for r in result["sklearn"] if "versus_s" in r]
    if not compared:
        return f"{cpu}\n\n{rates}\n\n{versus}"
    relax = compared[0]["versus_relax"]
    alternated = harness.table(
        [
            "dataset",
            "configurations",
            "the default's relax: s (median)",
            "range (runs)",
            f"relax {relax:g}: s (median)",
            "range (runs)",
            "default ÷ that",
        ],
        [
            [
                r["dataset"],
                r["configurations"],
                r["regtune_s"],
                r["regtune_spread"],
                r["versus_s"],
                r["versus_spread"],
                r["versus_ratio"],
            ]
            for r in compared
        ],
    )
    return f"{cpu}\n\n{rates}\n\n{versus}\n\n{alternated}"


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--datasets": {"default": None, "help": "comma-separated (default: all)"},
            "--trials": {"type": int, "default": 300, "help": "configurations per study in (1)"},
            "--cpu-only": {"action": "store_true", "help": "(0) alone"},
            "--cpu-dataset": {
                "default": "diabetes",
                "help": "(0)'s data: a dataset of bench.quality (its larger ones included)",
            },
            "--cpu-trials": {
                "type": int,
                "default": CPU_CONFIGURATIONS,
                "help": "(0)'s configurations per study",
            },
            "--versus-relax": {
                "type": float,
                "default": None,
                "help": "(2) also runs each regression study with this search_space.relax, "
                "alternating with the default's",
            },
        },
    )
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else (["diabetes"] if args.quick else list(DATASETS))
    )
    n_trials = QUICK_CONFIGURATIONS if args.quick else args.trials
    repeats = 1 if args.quick else (args.repeats or REPEATS)  # runs of each path study and fit
    result = measure(
        args.quick,
        n_trials,
        datasets,
        repeats,
        args.versus_relax,
        cpu_dataset=args.cpu_dataset,
        cpu_trials=args.cpu_trials,
        cpu_only=args.cpu_only,
    )
    markdown = summarize(result)
    harness.publish(args.out, "paths", {"quick": args.quick, **result}, markdown)


if __name__ == "__main__":
    main()
