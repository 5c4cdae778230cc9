"""How much training the pruners save, and at what cost in quality.

MLP studies (two hidden layers of 64, dropout, elastic-net penalty) of 60 trials on diabetes,
digits and friedman1, TPE with the same seed for every pruner (``PRUNERS``: none, median,
successive halving, hyperband with Optuna's defaults, and the candidates for regtune's default:
hyperband from a later ``min_resource``, median after warm-up steps, and a patient wrapper) and
5 seeds (``--repeats``). Reported per dataset and pruner, averaged
over the seeds: epochs trained, wall time, the best validation loss and its trial's test metric,
and the epochs saved against no pruning, both over the whole budget and to reach equal quality
(the study's best validation loss within 1 % of the unpruned study's final best), and the
paired differences from the unpruned study of the same seed (best validation loss, its test
metric) ± their standard error over the seeds: equal quality is a loss not worse by more than
one standard error.

The studies run in this process through Optuna's in-memory storage with regtune's own objective,
sampler and pruner (``regtune.worker.objective.make_objective``, ``regtune.worker.policies``): the
same trainer and the same pruning decisions a worker makes, without the service around it (whose
per-trial cost ``bench.overhead`` measures), so that 2,160 trials fit in a few minutes.

    python -m bench.pruning [--quick] [--repeats SEEDS] [--datasets a,b] [--pruners a,b]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import harness

PRUNERS: dict[str, dict[str, Any] | None] = {
    "none": {"type": "none"},
    "default": None,
    "median": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0},  # Optuna's
    "successive_halving": {"type": "successive_halving"},
    "hyperband": {"type": "hyperband", "min_resource": 1},
    "hyperband_min5": {"type": "hyperband", "min_resource": 5},
    "median_warmup5": {"type": "median", "n_startup_trials": 10, "n_warmup_steps": 5},
    "median_warmup10": {"type": "median", "n_startup_trials": 10, "n_warmup_steps": 10},
    "median_warmup2": {"type": "median", "n_startup_trials": 10, "n_warmup_steps": 2},
    "percentile25_warmup5": {
        "type": "percentile",
        "percentile": 25.0,
        "n_startup_trials": 10,
        "n_warmup_steps": 5,
    },
    "patient1_percentile25": {
        "type": "patient",
        "patience": 1,
        "wrapped": {"type": "percentile", "percentile": 25.0, "n_startup_trials": 10},
    },
    "patient_median": {
        "type": "patient",
        "patience": 3,
        "wrapped": {"type": "median", "n_startup_trials": 10, "n_warmup_steps": 5},
    },
}
"""Each pruner measured, by name (``default``: the definition gives none, so regtune's default
runs); the default should save half the epochs or more at equal quality (the final best within
one standard error over the seeds) on every dataset (bench/RESULTS.md's table)."""
DATASETS: dict[str, dict[str, Any]] = {
    "diabetes": {"builtin": "diabetes"},
    "digits": {"builtin": "digits"},
    "friedman1": {"synthetic": {"kind": "friedman1"}},
}
TEST_METRIC = {"regression": "test_r2", "multiclass": "test_accuracy", "binary": "test_accuracy"}
MLP_SPACE: dict[str, Any] = {
    "lambda": {"low": 1e-6, "high": 1e-1, "log": True},
    "l1_ratio": {"low": 0.0, "high": 1.0},
    "dropout": {"low": 0.0, "high": 0.5},
    "learning_rate": {"low": 1e-4, "high": 3e-2, "log": True},
}
"""The MLP studies' search space (``bench.mlp`` tunes the same)."""
EQUAL = 0.01
"""Equal quality: a best validation loss within 1 % of the unpruned study's best."""


def definition(dataset: str, pruner: str, seed: int, n_trials: int, epochs: int) -> dict[str, Any]:
    return {
        "name": f"pruning-{dataset}-{pruner}-{seed}",
        "dataset": DATASETS[dataset],
        "model": {"kind": "mlp", "hidden_layers": [64, 64]},
        "search_space": MLP_SPACE,
        "training": {"max_epochs": epochs, "batch_size": 64},
        "objective": {"metric": "val_loss"},
        "sampler": {"type": "tpe", "seed": seed},
        "budget": {"n_trials": n_trials},
    } | ({} if PRUNERS[pruner] is None else {"pruner": PRUNERS[pruner]})


def run_study(definition: dict[str, Any]) -> dict[str, Any]:
    import optuna
    import torch

    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # what a worker uses (REGTUNE_TORCH_THREADS)
    spec = resolve_task(StudySpec.model_validate(definition))
    study = optuna.create_study(
        direction=spec.objective.direction or "minimize",
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    objective = make_objective(spec, stop_check=lambda: None)
    started = time.perf_counter()
    study.optimize(objective, n_trials=spec.budget.n_trials, gc_after_trial=False)
    wall = time.perf_counter() - started
    finished = [t for t in study.trials if t.state.is_finished() and "epochs_run" in t.user_attrs]
    running_best, best, epochs, curve = float("inf"), None, 0, []
    for trial in finished:
        epochs += int(trial.user_attrs["epochs_run"])
        completed = trial.state == optuna.trial.TrialState.COMPLETE  # its value is never None
        if completed and trial.value is not None and trial.value < running_best:
            running_best, best = trial.value, trial
        curve.append((epochs, running_best))
    assert best is not None, "no trial completed"
    return {
        "task": spec.task,
        "wall_s": wall,
        "epochs": epochs,
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "best_val_loss": best.value,
        "best_test": best.user_attrs[TEST_METRIC[spec.task]],
        "best_params": best.params,
        "progress": curve,
    }


def epochs_to_reach(progress: list[tuple[int, float]], target: float) -> int | None:
    for epochs, best in progress:
        if best <= target:
            return epochs
    return None


def measure(
    quick: bool,
    repeats: int | None = None,
    datasets: list[str] | None = None,
    pruners: list[str] | None = None,
) -> list[dict[str, Any]]:
    datasets = datasets or (["diabetes"] if quick else list(DATASETS))
    pruners = ["none", *(p for p in pruners or PRUNERS if p != "none")]
    seeds = list(range(repeats or (1 if quick else 5)))
    n_trials, epochs = (4, 4) if quick else (60, 30)
    runs: list[dict[str, Any]] = []
    for dataset in datasets:  # warm up: data loading and torch's first calls are not timed
        run_study(definition(dataset, "none", 0, 1, 1))
    for dataset in datasets:
        for seed in seeds:
            for pruner in pruners:
                result = run_study(definition(dataset, pruner, seed, n_trials, epochs))
                runs.append({"dataset": dataset, "pruner": pruner, "seed": seed, **result})
                print(
                    f"  {dataset:9s} seed {seed} {pruner:18s} epochs {result['epochs']:5d} "
                    f"wall {result['wall_s']:6.1f} s best {result['best_val_loss']:.4f}",
                    flush=True,
                )
    for run in runs:
        base = next(
            r
            for r in runs
            if r["dataset"] == run["dataset"] and r["seed"] == run["seed"] and r["pruner"] == "none"
        )
        target = base["best_val_loss"] * (1 + EQUAL)
        run["equal_quality"] = run["best_val_loss"] <= target
        run["saved_fraction"] = 1 - run["epochs"] / base["epochs"]
        run["epochs_to_equal_quality"] = epochs_to_reach(run["progress"], target)
    return runs


def summarize(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        for pruner in dict.fromkeys(r["pruner"] for r in runs):
            group = [r for r in runs if r["dataset"] == dataset and r["pruner"] == pruner]
            if not group:  # a pruner measured on other datasets only
                continue
            reached = [r["epochs_to_equal_quality"] for r in group]
            val, val_se = _paired(runs, group, "best_val_loss")
            test, test_se = _paired(runs, group, "best_test")
            rows.append(
                {
                    "dataset": dataset,
                    "pruner": pruner,
                    "seeds": len(group),
                    "epochs": statistics.mean(r["epochs"] for r in group),
                    "pruned_trials": statistics.mean(r["pruned"] for r in group),
                    "wall_s": statistics.mean(r["wall_s"] for r in group),
                    "best_val_loss": statistics.mean(r["best_val_loss"] for r in group),
                    "best_test": statistics.mean(r["best_test"] for r in group),
                    "test_metric": TEST_METRIC[group[0]["task"]],
                    "saved_fraction": statistics.mean(r["saved_fraction"] for r in group),
                    "equal_quality_seeds": sum(r["equal_quality"] for r in group),
                    "val_loss_difference": val,
                    "val_loss_difference_se": val_se,
                    "test_difference": test,
                    "test_difference_se": test_se,
                    # equal quality: the best validation loss not worse by more than 1 SE
                    "within_1_se": bool(val <= val_se + 1e-12) if val_se == val_se else None,
                    "reached_equal_quality_seeds": sum(v is not None for v in reached),
                    "epochs_to_equal_quality": statistics.mean(v for v in reached if v is not None)
                    if any(v is not None for v in reached)
                    else None,
                }
            )
    headers = [
        "dataset",
        "pruner",
        "epochs trained",
        "pruned trials",
        "wall s",
        "best val loss",
        "its test metric",
        "epochs saved (whole budget)",
        "final best within 1 %",
        "best val loss − unpruned ± SE",
        "test metric − unpruned ± SE",
        "equal quality (within 1 SE)",
        "epochs until the best is within 1 % of the unpruned best",
    ]
    table_rows = [
        [
            r["dataset"],
            r["pruner"],
            round(r["epochs"]),
            round(r["pruned_trials"], 1),
            round(r["wall_s"], 1),
            round(r["best_val_loss"], 4),
            f"{r['test_metric'].removeprefix('test_')} {r['best_test']:.3f}",
            f"{100 * r['saved_fraction']:.0f} %",
            f"{r['equal_quality_seeds']}/{r['seeds']}",
            f"{r['val_loss_difference']:+.4f} ± {r['val_loss_difference_se']:.4f}",
            f"{r['test_difference']:+.4f} ± {r['test_difference_se']:.4f}",
            {True: "yes", False: "no", None: "n/a"}[r["within_1_se"]],
            "never"
            if r["epochs_to_equal_quality"] is None
            else f"{r['epochs_to_equal_quality']:.0f} "
            f"({r['reached_equal_quality_seeds']}/{r['seeds']} seeds)",
        ]
        for r in rows
    ]
    return rows, harness.table(headers, table_rows)


def _paired(
    runs: list[dict[str, Any]], group: list[dict[str, Any]], key: str
) -> tuple[float, float]:
    """Mean and standard error over seeds of ``key`` minus the unpruned study's, seed by seed."""
    differences = [
        run[key]
        - next(
            r[key]
            for r in runs
            if r["dataset"] == run["dataset"] and r["seed"] == run["seed"] and r["pruner"] == "none"
        )
        for run in group
    ]
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return mean, float("nan")
    return mean, statistics.stdev(differences) / len(differences) ** 0.5


def _names(value: str | None) -> list[str] | None:
    return value.split(",") if value else None


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--datasets": {"default": None, "help": "comma-separated (default: all three)"},
            "--pruners": {"default": None, "help": "comma-separated names of PRUNERS"},
        },
    )
    runs = measure(args.quick, args.repeats, _names(args.datasets), _names(args.pruners))
    rows, markdown = summarize(runs)
    for run in runs:
        run.pop("progress")
    harness.publish(
        args.out, "pruning", {"quick": args.quick, "rows": rows, "runs": runs}, markdown
    )


if __name__ == "__main__":
    main()
