"""A stop (cancel, SIGTERM) reaches every trainer between two solver iterations or minibatch
steps, not only between report blocks (issue 22, item 1): a solve asked to run 1,000,000
iterations in one report block of 100,000 ends within a second of the stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from worker.data import load, make_splits
from worker.trainers import fit
from worker.trainers.config import ExactOptions, TrainConfig


class Stopped(Exception):
    pass


def stop_after(seconds: float) -> tuple[Callable[[], None], Callable[[], float]]:
    """A stop check that raises once ``seconds`` passed (a flag set from another thread, as the
    worker's signal handler and heartbeat set theirs) → (check, seconds since the flag)."""
    flag = threading.Event()
    set_at: list[float] = []

    def raise_flag() -> None:
        set_at.append(time.monotonic())
        flag.set()

    threading.Timer(seconds, raise_flag).start()

    def check() -> None:
        if flag.is_set():
            raise Stopped()

    return check, lambda: time.monotonic() - set_at[0]


@pytest.mark.parametrize(
    ("task", "dataset", "n_out", "solver"),
    [
        ("regression", "diabetes", 1, "exact"),
        ("multiclass", "digits", 10, "exact"),
        ("multiclass", "digits", 10, "minibatch"),
    ],
)
def test_a_stop_is_seen_within_a_second_whatever_the_report_block(
    task: str, dataset: str, n_out: int, solver: str
) -> None:
    splits = make_splits(
        load({"builtin": dataset}), test_fraction=0.2, holdout=0.2, folds=None, seed=0
    )
    config = TrainConfig(
        task=task,
        n_out=n_out,
        solver=solver,  # type: ignore[arg-type]
        model_kind="linear",
        lam=1e-9,
        l1_ratio=0.5,
        batch_size=1,
        max_epochs=10_000,
        early_stopping=None,
        exact=ExactOptions(tol=1e-300, max_iter=1_000_000, report_every=100_000),
    )
    check, since_stop = stop_after(0.5)
    reports: list[int] = []

    def on_epoch(epoch: int, _metrics: dict[str, float]) -> bool:
        reports.append(epoch)
        return False

    with pytest.raises(Stopped):
        fit(config, splits.folds, on_epoch, stop=check)
    assert since_stop() < 1.0
    assert not reports  # the stop came inside the first report block
