"""Fused trials against one trial at a time: trials per CPU-second of MLP studies run by a worker.

For the digits (classification) and diabetes (regression) MLP studies with 64×64 and 256×256
hidden units, one worker in a child process runs the whole study through the service's own path
(a SQLite database, the claim protocol, Optuna's storage, every epoch reported) with
``training.fused_trials`` = K for K = 1 (one trial at a time, today's path), 2, 4, 8 and 16. The
study searches λ, l1_ratio, learning rate, dropout and input noise (so the members of a pass
differ in all of them), with the default early stopping and no pruner. A row gives the trials
per CPU-second of the worker process (``REGTUNE_TORCH_THREADS=1``: CPU seconds, not wall, are what
load on a shared machine does not change; the best model's retraining when the study completes,
once per study whatever K, is left out), its wall time, the speed-up over K = 1 and the study's
best validation value. A second table times the trainers alone (no service): 8 configurations
trained one after another against one fused pass (each member's own draws, and beside it one
draw for the whole stack: what a member's own draws cost), and beside them the ceiling
(``fusing_ceiling``): 8 bare MLPs of the same shape, rows, batch and epochs, one after another
against stacked, which is the most any fusing of 8 members can give on this CPU.

Quality: fused members draw dropout and noise from their own generators, so they are not the
trials run alone draw for draw; over ``--repeats`` sampler/training seeds (10) the best value of
a K = 8 study against a K = 1 study of the same seed, mean ± 1 SE, for the 64×64 studies.

    nice -n 10 python -m bench.fused [--quick] [--repeats N]
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import harness
from tests.inprocess import reset_process_state

WIDTHS = (1, 2, 4, 8, 16)
STUDIES = (
    ("digits", (64, 64)),
    ("digits", (256, 256)),
    ("diabetes", (64, 64)),
    ("diabetes", (256, 256)),
)
N_TRIALS = 48
EPOCHS = 20


def definition(
    dataset: str, hidden: tuple[int, ...], k: int, n_trials: int, epochs: int, seed: int
) -> dict[str, Any]:
    return {
        "name": f"fused-{dataset}-{'x'.join(map(str, hidden))}-k{k}-s{seed}",
        "dataset": {"builtin": dataset},
        "model": {"kind": "mlp", "hidden_layers": list(hidden)},
        "search_space": {
            "lambda": {"low": 1e-6, "high": 1e-1, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "learning_rate": {"low": 1e-4, "high": 3e-2, "log": True},
            "dropout": {"low": 0.0, "high": 0.5},
            "input_noise": {"low": 0.0, "high": 0.3},
        },
        "training": {"max_epochs": epochs, "batch_size": 128, "fused_trials": k, "seed": seed},
        "sampler": {"type": "tpe", "seed": seed},
        "pruner": {"type": "none"},
        "budget": {"n_trials": n_trials, "max_parallel": max(WIDTHS)},
    }


def measured_worker(settings: Any) -> Any:
    """A worker that keeps apart the CPU seconds of the best model's retraining (once per study,
    whatever K: not a trial)."""
    from regtune.worker.loop import Worker

    class MeasuredWorker(Worker):
        refit_cpu = 0.0

        def _save_best_model(self, study_id: str) -> None:
            started = time.process_time()
            super()._save_best_model(study_id)
            self.refit_cpu += time.process_time() - started

    return MeasuredWorker(settings)


def run_study(body: dict[str, Any]) -> dict[str, Any]:
    """In this (child) process: create the study on a fresh SQLite file, run one worker until
    it is done; the worker's CPU seconds and wall time, and the best value."""
    import contextvars

    import optuna
    from fastapi.testclient import TestClient

    from regtune.service.api.app import create_app
    from regtune.service.settings import Settings
    from regtune.service.store.migrate import upgrade

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reset_process_state()  # engines and storages cached for an earlier run's database
    with tempfile.TemporaryDirectory(prefix="regtune-fused-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        settings = Settings(database_url=url, artifact_dir=Path(tmp) / "artifacts", torch_threads=1)
        with TestClient(create_app(settings)) as api:
            created = api.post("/v1/studies", json=body)
            assert created.status_code == 201, created.text
            study_id = created.json()["id"]
        warm_up(body, settings)
        n_trials = body["budget"]["n_trials"]
        worker = measured_worker(settings)
        cpu, wall = time.process_time(), time.perf_counter()
        ran = contextvars.copy_context().run(worker.run, max_trials=n_trials)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        with TestClient(create_app(settings)) as api:
            study = api.get(f"/v1/studies/{study_id}").json()
    best = study["best_trial"]
    return {
        "trials": ran,
        "done": study["progress"]["done"],
        "cpu_s": cpu - worker.refit_cpu,
        "refit_cpu_s": worker.refit_cpu,
        "wall_s": wall,
        "best": None if best is None else best["value"],
    }


def warm_up(body: dict[str, Any], settings: Any) -> None:
    """Imports (torch, scikit-learn) and the dataset, loaded once per worker process, outside
    the measured time: what is compared is the trials' cost."""
    import torch

    from regtune.service.settings import use_settings
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.objective import prepare, set_threads

    use_settings(settings)
    set_threads()
    prepare(resolve_task(StudySpec.model_validate(body)))
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports much of torch


def in_child(body: dict[str, Any]) -> dict[str, Any]:
    """``run_study`` in a child process of its own (its own caches, one torch thread)."""
    code = (
        "import json, sys; from bench.fused import run_study; "
        "print(json.dumps(run_study(json.loads(sys.argv[1]))))"
    )
    env = {**os.environ, "REGTUNE_TORCH_THREADS": "1", "REGTUNE_LOG_LEVEL": "WARNING"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(body)],
        cwd=harness.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(body: dict[str, Any], quick: bool) -> dict[str, Any]:
    """A full run in a child process of its own; ``--quick`` (a smoke run) in this one."""
    return run_study(body) if quick else in_child(body)


def speed(quick: bool) -> list[dict[str, Any]]:
    n_trials, epochs = (4, 2) if quick else (N_TRIALS, EPOCHS)
    studies = STUDIES[:1] if quick else STUDIES
    widths = (1, 4) if quick else WIDTHS
    rows = []
    for dataset, hidden in studies:
        for k in widths:
            result = measure(definition(dataset, hidden, k, n_trials, epochs, seed=0), quick)
            rows.append(
                {"dataset": dataset, "hidden": "×".join(map(str, hidden)), "k": k, **result}
            )
            sys.stderr.write(f"{rows[-1]}\n")
    return rows


def training_alone(quick: bool) -> list[dict[str, Any]]:
    """The trainers alone, no service: CPU seconds of K = 8 configurations (random knobs, dropout
    and input noise on) trained one after another by the minibatch trainer and as one fused pass."""
    import random

    import torch

    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.objective import n_outputs, prepare, train_config
    from regtune.worker.trainers.fused import train_fused
    from regtune.worker.trainers.minibatch import train_minibatch

    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports much of torch
    epochs = 3 if quick else EPOCHS
    rows = []
    for dataset, hidden in STUDIES[2:3] if quick else STUDIES:
        spec = resolve_task(StudySpec.model_validate(definition(dataset, hidden, 8, 8, epochs, 0)))
        splits = prepare(spec)
        rng = random.Random(0)
        configs = [
            train_config(
                spec,
                {
                    "lambda": 10 ** rng.uniform(-6, -1),
                    "l1_ratio": rng.random(),
                    "learning_rate": 10 ** rng.uniform(-4, -1.5),
                    "dropout": rng.uniform(0, 0.5),
                    "input_noise": rng.uniform(0, 0.3),
                },
                n_out=n_outputs(splits),
            )
            for _ in range(8)
        ]
        cpu = time.process_time()
        for config in configs:
            train_minibatch(config, splits.folds)
        alone = time.process_time() - cpu
        fused_pass = functools.partial(train_fused, configs, splits.folds)
        fused, stack_drawn = own_and_stack_draws(fused_pass)
        fold = splits.folds[0]
        shape = (fold.X_train.shape[1], hidden, n_outputs(splits), fold.X_train.shape[0])
        bare_alone, bare_fused = fusing_ceiling(*shape, batch=configs[0].batch_size, epochs=epochs)
        rows.append(
            {
                "dataset": dataset,
                "hidden": "×".join(map(str, hidden)),
                "alone_cpu_s": alone,
                "fused_cpu_s": fused,
                "fused_stack_draw_cpu_s": stack_drawn,
                "bare_alone_cpu_s": bare_alone,
                "bare_fused_cpu_s": bare_fused,
            }
        )
        sys.stderr.write(f"{rows[-1]}\n")
    return rows


def own_and_stack_draws(train: Callable[[], object], rounds: int = 2) -> tuple[float, float]:
    """CPU seconds of one fused pass with each member's own draws (the trainer's) and with one
    draw for the whole stack (``StackDraws``, the baseline), taking turns, the least of
    ``rounds`` each."""
    from unittest import mock

    own, stack = math.inf, math.inf
    for _ in range(rounds):
        cpu = time.process_time()
        train()
        own = min(own, time.process_time() - cpu)
        with mock.patch("regtune.worker.trainers.fused.MemberDraws", stack_draws()):
            cpu = time.process_time()
            train()
            stack = min(stack, time.process_time() - cpu)
    return own, stack


def stack_draws() -> type:
    """The baseline of a member's own draws: one noise draw and one dropout draw for the whole
    stack per batch and layer (two calls where a member's own draws make one per member), as
    the fused trainer drew before a member's result had to be its configuration's alone."""
    import torch

    from regtune.worker.trainers.draws import DROPOUT_STREAM, NOISE_STREAM, MemberDraws

    class StackDraws(MemberDraws):
        def __init__(self, seed: int, members: int) -> None:
            super().__init__(seed, members)
            self.stack_noise = torch.Generator().manual_seed(seed + NOISE_STREAM)
            self.stack_dropout = torch.Generator().manual_seed(seed + DROPOUT_STREAM)

        def noisy(self, inputs: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
            shape = (len(self.noise), *inputs.shape)
            draw = torch.randn(shape, generator=self.stack_noise, dtype=inputs.dtype)
            return inputs + std.view(-1, 1, 1) * draw

        def uniforms(
            self, shape: torch.Size, rate: torch.Tensor, dtype: torch.dtype
        ) -> torch.Tensor:
            return torch.rand(shape, generator=self.stack_dropout, dtype=dtype)

    return StackDraws


def fusing_ceiling(
    n_in: int,
    hidden: tuple[int, ...],
    n_out: int,
    rows: int,
    *,
    batch: int | None,
    epochs: int,
    k: int = 8,
) -> tuple[float, float]:
    """The most fusing can give on this CPU for a network's shape: ``k`` bare MLPs (ReLU, squared
    loss, Adam; no dropout, noise, penalty, validation or early stopping: only what every member
    must compute) trained one after another against the same ``k`` as one stacked model
    (batched products, one optimizer) → their CPU seconds (one thread)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(rows, n_in, generator=generator)
    Y = torch.randn(rows, n_out, generator=generator)
    step = batch or rows
    dims = [n_in, *hidden, n_out]

    def train(members: int) -> None:
        weights = [
            (0.1 * torch.randn(members, a, b, generator=generator)).requires_grad_()
            for a, b in itertools.pairwise(dims)
        ]
        biases = [torch.zeros(members, 1, b, requires_grad=True) for b in dims[1:]]
        optimizer = torch.optim.Adam([*weights, *biases], lr=1e-3)
        for _ in range(epochs):
            for start in range(0, rows, step):
                out = X[start : start + step].expand(members, -1, -1)
                for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
                    out = torch.baddbmm(b, out, w)
                    if layer < len(weights) - 1:
                        out = torch.relu(out)
                loss = ((out - Y[start : start + step]) ** 2).mean() * members
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    train(1)  # first calls of each kernel
    cpu = time.process_time()
    for _ in range(k):
        train(1)
    alone = time.process_time() - cpu
    cpu = time.process_time()
    train(k)
    return alone, time.process_time() - cpu


def quality(quick: bool, repeats: int) -> list[dict[str, Any]]:
    n_trials, epochs = (4, 2) if quick else (24, EPOCHS)
    rows = []
    for dataset, hidden in STUDIES[2:3] if quick else STUDIES[::2]:
        best: dict[int, list[float]] = {1: [], 8: []}
        for seed in range(repeats):
            for k in best:
                body = definition(dataset, hidden, k, n_trials, epochs, seed=seed)
                value = measure(body, quick)["best"]
                best[k].append(float(value))
        row: dict[str, Any] = {"dataset": dataset, "hidden": "×".join(map(str, hidden))}
        for k, values in best.items():
            row[f"k{k}_mean"] = statistics.fmean(values)
            row[f"k{k}_se"] = (
                statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
            )
        diffs = [a - b for a, b in zip(best[8], best[1], strict=True)]
        row["diff_mean"] = statistics.fmean(diffs)
        row["diff_se"] = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        rows.append(row)
        sys.stderr.write(f"{row}\n")
    return rows


def summarize(
    speeds: list[dict[str, Any]], alone: list[dict[str, Any]], qualities: list[dict[str, Any]]
) -> str:
    baseline = {(r["dataset"], r["hidden"]): r for r in speeds if r["k"] == 1}
    speed_rows = []
    for r in speeds:
        per_cpu = r["trials"] / r["cpu_s"]
        one = baseline[(r["dataset"], r["hidden"])]
        speed_rows.append(
            [
                r["dataset"],
                r["hidden"],
                r["k"],
                r["trials"],
                per_cpu,
                per_cpu / (one["trials"] / one["cpu_s"]),
                r["cpu_s"],
                r["wall_s"],
                r["best"],
            ]
        )
    text = harness.table(
        [
            "dataset",
            "hidden",
            "K",
            "trials",
            "trials / CPU-s",
            "× K=1",
            "CPU s",
            "wall s",
            "best value",
        ],
        speed_rows,
    )
    text += "\n\n" + harness.table(
        [
            "dataset",
            "hidden",
            "8 trained alone, CPU s",
            "8 fused, CPU s",
            "×",
            "8 fused, one draw for the stack, CPU s",
            "own draws ×",
            "ceiling: 8 bare MLPs alone, CPU s",
            "8 bare MLPs stacked, CPU s",
            "× (the most fusing gives)",
        ],
        [
            [
                a["dataset"],
                a["hidden"],
                a["alone_cpu_s"],
                a["fused_cpu_s"],
                a["alone_cpu_s"] / a["fused_cpu_s"],
                a["fused_stack_draw_cpu_s"],
                a["fused_cpu_s"] / a["fused_stack_draw_cpu_s"],
                a["bare_alone_cpu_s"],
                a["bare_fused_cpu_s"],
                a["bare_alone_cpu_s"] / a["bare_fused_cpu_s"],
            ]
            for a in alone
        ],
    )
    quality_rows = [
        [
            q["dataset"],
            q["hidden"],
            f"{q['k1_mean']:.4g} ± {q['k1_se']:.2g}",
            f"{q['k8_mean']:.4g} ± {q['k8_se']:.2g}",
            f"{q['diff_mean']:+.3g} ± {q['diff_se']:.2g}",
        ]
        for q in qualities
    ]
    text += "\n\n" + harness.table(
        ["dataset", "hidden", "best, K=1 (mean ± SE)", "best, K=8", "K=8 − K=1 (paired)"],
        quality_rows,
    )
    return text


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args("Fused trials: trials per CPU-second for K = 1..16", argv)
    repeats = args.repeats or (2 if args.quick else 10)
    speeds = speed(args.quick)
    alone = training_alone(args.quick)
    qualities = quality(args.quick, repeats)
    harness.publish(
        args.out,
        "fused",
        {
            "quick": args.quick,
            "speed": speeds,
            "training_alone": alone,
            "quality": qualities,
            "n_trials": N_TRIALS,
            "epochs": EPOCHS,
        },
        summarize(speeds, alone, qualities),
    )


if __name__ == "__main__":
    main()
