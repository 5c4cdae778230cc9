"""A stop (cancel, SIGTERM) reaches every trainer between two solver iterations or minibatch
steps, not only between report blocks (issue 22, item 1): a solve asked to run 1,000,000
iterations in one report block of 100,000 stops at the first check after the flag is raised.
Admission bounds what one iteration may cost, which bounds the time a stop takes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regtune.worker.data import load, make_splits
from regtune.worker.trainers import fit
from regtune.worker.trainers.config import ExactOptions, TrainConfig


class Stopped(Exception):
    pass


def stop_at_check(n: int) -> tuple[Callable[[], None], list[int]]:
    """A stop check whose flag goes up at its ``n``-th call → (check, calls so far)."""
    calls = [0]

    def check() -> None:
        calls[0] += 1
        if calls[0] >= n:
            raise Stopped()

    return check, calls


@pytest.mark.parametrize(
    ("task", "dataset", "n_out", "solver"),
    [
        ("regression", "diabetes", 1, "exact"),
        ("multiclass", "digits", 10, "exact"),
        ("multiclass", "digits", 10, "minibatch"),
    ],
)
def test_a_stop_is_seen_within_one_step_whatever_the_report_block(
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
    check, calls = stop_at_check(50)
    reports: list[int] = []

    def on_epoch(epoch: int, _metrics: dict[str, float]) -> bool:
        reports.append(epoch)
        return False

    with pytest.raises(Stopped):
        fit(config, splits.folds, on_epoch, stop=check)
    assert calls[0] == 50  # seen at the first check after the flag, one step later at most
    assert not reports  # the stop came inside the first report block
