"""Short trials: a 1,000-trial linear study through the pool against the same objective in one
process.

The study: diabetes, the linear model with the exact solver, λ and l1_ratio searched by TPE,
the validation the default rule chooses (5 folds here), admitted as ``POST /v1/studies`` admits
it. Each trial is a few tens of milliseconds of solving, so the claim protocol, the storage and
the sampler weigh as much as the training: the row the pool's 1-s trials cannot show.

* **baseline**: regtune's own objective for that definition (``make_objective``) run by
  ``study.optimize`` in one process with Optuna's in-memory storage, one configuration per
  trial; the wall time of ``optimize``;
* **regtune, 2 workers, one trial per claim** (``training.lambda_path: null``): the same
  objective through ``regtune api`` and two ``regtune worker`` processes on SQLite, from the
  study's creation to its completion (the server's timestamps: the client's polling is not
  counted), the best model's retraining after it left out;
* **regtune, 2 workers, the default** (λ paths: one claim solves a path of λ values, each a
  trial): the same, as a user submitting that definition gets it.

The goal: regtune within 2× the baseline's wall time.

    python -m bench.short_trials [--quick] [--trials 1000]
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from bench import harness

QUICK_TRIALS = 20


def definition(n_trials: int, *, paths: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": f"short-{'paths' if paths else 'single'}-{n_trials}",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 10.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "sampler": {"type": "tpe", "seed": 0},
        "budget": {"n_trials": n_trials, "max_parallel": 2},
    }
    if not paths:
        spec["training"] = {"lambda_path": None}
    return spec


def in_memory(n_trials: int) -> dict[str, Any]:
    """The objective of the one-trial-per-claim study, one process, in-memory storage."""
    import optuna
    import torch

    from regtune.service.api.studies import admit
    from regtune.service.settings import get_settings
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # what a worker uses (REGTUNE_TORCH_THREADS)
    spec = admit(definition(n_trials, paths=False), tenant="default", settings=get_settings())
    study = optuna.create_study(
        direction=spec.objective.direction or "minimize",
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    objective = make_objective(spec, stop_check=lambda: None)
    study.optimize(objective, n_trials=2)  # data loading and torch's first calls: start-up
    started, cpu = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=n_trials)
    return {
        "run": "Optuna in-memory, one process (regtune's objective)",
        "trials": n_trials,
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
    }


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def through_the_pool(service: harness.Service, n_trials: int, *, paths: bool) -> dict[str, Any]:
    study_id = service.submit(definition(n_trials, paths=paths))
    study = service.wait_done(study_id, timeout=600 + n_trials)
    assert study["status"] == "completed", study
    how = "λ paths (the default)" if paths else "one trial per claim"
    return {
        "run": f"regtune, 2 workers, {how}",
        "trials": study["progress"]["done"],
        "wall_s": (_when(study["finished_at"]) - _when(study["created_at"])).total_seconds(),
    }


def measure(n_trials: int) -> list[dict[str, Any]]:
    runs = [in_memory(n_trials)]
    print(f"  {runs[-1]['run']}: {runs[-1]['wall_s']:.2f} s", flush=True)
    with harness.scratch("short") as tmp:
        url = harness.fresh_database("sqlite", tmp, None, "short")
        env = {"REGTUNE_ARTIFACT_DIR": str(tmp / "artifacts"), "REGTUNE_POLL_MAX": "0.2"}
        with harness.Service(url, tmp, **env) as service:
            service.start_api("--workers", "1").start_workers(2)
            # both workers load torch and the data first: start-up is no study's cost
            through_the_pool(service, 4, paths=False)
            for paths in (False, True):
                runs.append(through_the_pool(service, n_trials, paths=paths))
                print(f"  {runs[-1]['run']}: {runs[-1]['wall_s']:.2f} s", flush=True)
    base = runs[0]["wall_s"]
    for run in runs:
        run["ratio"] = run["wall_s"] / base
    return runs


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={"--trials": {"type": int, "default": None, "help": "trials per study (1000)"}},
    )
    n_trials = args.trials or (QUICK_TRIALS if args.quick else 1000)
    runs = measure(n_trials)
    markdown = harness.table(
        ["run", "trials", "wall s", "× the baseline (goal ≤ 2)"],
        [[r["run"], r["trials"], r["wall_s"], r["ratio"]] for r in runs],
    )
    harness.publish(args.out, "short_trials", {"quick": args.quick, "runs": runs}, markdown)


if __name__ == "__main__":
    main()
