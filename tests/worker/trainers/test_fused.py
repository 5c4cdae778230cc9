"""Fused training gives each member the answer it gets alone: with dropout and input noise off, a
member's weights after training equal the same configuration trained alone by the minibatch
trainer (same seed, same batches) to 1e-5, through early stopping, pruning and its own knobs;
with them on, a member trains the same whichever members it is stacked with."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import cache

import pytest
import torch

from regtune.worker.data import Splits, load, make_splits
from regtune.worker.trainers.config import EarlyStop, EpochHook, TrainConfig
from regtune.worker.trainers.fused import MemberEpochHook, groups, train_fused
from regtune.worker.trainers.minibatch import train_minibatch
from regtune.worker.trainers.result import TrainResult

ATOL = 1e-5


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread, as a worker runs (``REGTUNE_TORCH_THREADS``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@cache
def splits(name: str, folds: int | None = None) -> Splits:
    data = load({"builtin": name})
    holdout = None if folds else 0.2
    return make_splits(data, test_fraction=0.2, holdout=holdout, folds=folds, seed=0)


def members(data: Splits, **shared: object) -> list[TrainConfig]:
    """Four MLPs of one structure, each with its own λ, l1_ratio, layer penalty and rate."""
    options: dict[str, object] = {
        "early_stopping": EarlyStop(patience=2, min_delta=1e-3, restore_best=True),
        **shared,
    }
    base = TrainConfig(
        task=data.task,
        n_out=data.n_classes if data.task == "multiclass" else 1,
        model_kind="mlp",
        hidden_layers=(16, 8),
        batch_size=64,
        max_epochs=6,
        **options,  # type: ignore[arg-type]
    )
    knobs = [
        (1e-4, 0.0, 1e-2, 1.0),
        (1e-3, 0.5, 3e-3, 0.5),
        (3e-2, 1.0, 3e-2, 0.0),
        (0.0, 0.5, 2e-2, 2.0),
    ]
    return [
        dataclasses.replace(base, lam=lam, l1_ratio=rho, learning_rate=lr, layer_penalty=pen)
        for lam, rho, lr, pen in knobs
    ]


def assert_same_weights(
    alone: TrainResult, fused: TrainResult, skip: tuple[str, ...] = (), atol: float = ATOL
) -> None:
    for a, b in zip(alone.models, fused.models, strict=True):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            if name.endswith(skip) or not x.dtype.is_floating_point:
                continue
            assert torch.allclose(x, y, atol=atol, rtol=0), (name, float((x - y).abs().max()))


@pytest.mark.parametrize(
    ("dataset", "folds", "optimizer"),
    [("digits", None, "adam"), ("diabetes", 2, "adam"), ("breast_cancer", None, "sgd")],
)
def test_each_member_ends_where_it_ends_alone(
    dataset: str, folds: int | None, optimizer: str
) -> None:
    data = splits(dataset, folds)
    configs = members(data, optimizer=optimizer, momentum=0.5 if optimizer == "sgd" else 0.0)
    alone = [train_minibatch(c, data.folds) for c in configs]
    fused = train_fused(configs, data.folds)
    for a, f in zip(alone, fused, strict=True):
        assert (a.epochs_run, a.best_epoch, a.stopped_early) == (
            f.epochs_run,
            f.best_epoch,
            f.stopped_early,
        )
        assert a.n_nonzero == f.n_nonzero
        assert a.curve == pytest.approx(f.curve, rel=1e-4)
        assert_same_weights(a, f)


def test_a_member_that_ran_every_epoch_did_not_stop_early() -> None:
    """A member whose patience runs out at the last epoch ran ``max_epochs`` epochs: it did
    not stop early, as the same configuration trained alone does not."""
    data = splits("digits")
    longer = [dataclasses.replace(c, max_epochs=30) for c in members(data)]
    alone = [train_minibatch(c, data.folds) for c in longer]
    stopped = [r for r in alone if r.stopped_early]
    assert stopped, [r.epochs_run for r in alone]
    last = stopped[0].epochs_run
    configs = [dataclasses.replace(c, max_epochs=last) for c in longer]
    fused = train_fused(configs, data.folds)
    for a, f in zip(alone, fused, strict=True):
        if a.stopped_early and a.epochs_run == last:
            assert f.epochs_run == last and not f.stopped_early, (a.epochs_run, f.epochs_run)
        assert f.stopped_early == (a.stopped_early and a.epochs_run < last)


def test_a_pruned_member_leaves_the_stack_and_the_others_go_on() -> None:
    data = splits("digits")
    configs = members(data, early_stopping=None)

    def prune_second(member: int) -> EpochHook:
        return lambda epoch, _metrics: member == 1 and epoch == 2

    alone = [train_minibatch(c, data.folds, prune_second(i)) for i, c in enumerate(configs)]
    done: list[int] = []
    fused = train_fused(
        configs,
        data.folds,
        lambda k, epoch, metrics: prune_second(k)(epoch, metrics),
        lambda k, _result: done.append(k),
    )
    assert done[0] == 1 and sorted(done) == [0, 1, 2, 3]  # handed over as soon as it ends
    assert [f.pruned for f in fused] == [False, True, False, False]
    assert fused[1].epochs_run == 2 and fused[0].epochs_run == 6
    for a, f in zip(alone, fused, strict=True):
        assert_same_weights(a, f)


def test_batch_norm_members_train_as_they_train_alone() -> None:
    """Every weight agrees, the biases before a norm and the running means too (they were left
    out: the bias's true gradient is zero, the norm subtracts it, and Adam turned the rounding
    it got instead into steps; it is no longer trained, ``build_model``). Batch norm makes some
    configurations chaotic at float precision (trained alone on one thread and on two, their
    weights part by 1e-2), so members that training alone reproduces are compared."""
    data = splits("digits")
    steady = members(data, batch_norm=True, early_stopping=None)[1]
    configs = [steady, dataclasses.replace(steady, lam=3e-3, learning_rate=5e-3, layer_penalty=1.0)]
    alone = [train_minibatch(c, data.folds) for c in configs]
    fused = train_fused(configs, data.folds)
    for a, f in zip(alone, fused, strict=True):
        assert_same_weights(a, f, atol=1e-4)


def test_a_batch_norm_member_trains_the_same_whatever_its_companions() -> None:
    """A member's value moved by 1e-3 with its pass's width (diabetes, 16 × 8 with batch norm:
    0.27439 alone, 0.27378 among 2-4, 0.27439 among 8): the rounding a bias before a norm got
    as its gradient depends on the stacked product's shape, and Adam made steps of it."""
    data = splits("diabetes")
    configs = [dataclasses.replace(c, max_epochs=4) for c in members(data, batch_norm=True)]
    first = configs[0]
    alone = train_fused([first], data.folds)[0]
    for fused in (
        train_fused([configs[1], first], data.folds)[1],
        train_fused(configs, data.folds)[0],
        train_fused([*configs, *configs], data.folds)[4],
    ):
        assert (fused.epochs_run, fused.best_epoch) == (alone.epochs_run, alone.best_epoch)
        assert fused.curve == pytest.approx(alone.curve, rel=1e-6, abs=1e-7)
        assert_same_weights(alone, fused, atol=1e-5)


def test_members_of_another_structure_train_in_their_own_group() -> None:
    data = splits("digits")
    configs = members(data)
    wide = dataclasses.replace(configs[1], hidden_layers=(32,))
    other_batch = dataclasses.replace(configs[2], batch_size=32)
    assert groups([configs[0], wide, configs[3], other_batch, configs[1]]) == [[0, 2, 4], [1], [3]]
    with pytest.raises(ValueError, match="one structure"):
        train_fused([configs[0], wide], data.folds)


def test_a_member_with_dropout_and_noise_trains_the_same_whatever_its_companions() -> None:
    """Each member draws its noise and masks from its own generators: a trial's result is its
    configuration's, not that of the trials a worker happened to fuse it with (one draw for the
    whole stack gave a member the numbers at its position, so the same trial scored differently
    in another pass: seen with two workers, and with another ``REGTUNE_FUSED_TRIALS``)."""
    data = splits("diabetes", 2)
    configs = [
        dataclasses.replace(c, dropout=rate, input_noise=noise, max_epochs=4)
        for c, rate, noise in zip(
            members(data, early_stopping=None),
            (0.2, 0.0, 0.4, 0.1),
            (0.1, 0.3, 0.0, 0.2),
            strict=True,
        )
    ]
    first = configs[0]

    def prune_at_2(member: int) -> MemberEpochHook:
        return lambda k, epoch, _metrics: k == member and epoch == 2

    alone = train_fused([first], data.folds)[0]
    passes = [
        train_fused(configs, data.folds)[0],
        train_fused([configs[2], configs[3], first], data.folds)[2],
        train_fused([configs[1], first], data.folds, prune_at_2(0))[1],  # its companion leaves
    ]
    for fused in passes:
        assert (fused.epochs_run, fused.best_epoch, fused.n_nonzero) == (
            alone.epochs_run,
            alone.best_epoch,
            alone.n_nonzero,
        )
        assert fused.curve == pytest.approx(alone.curve, rel=1e-6)
        assert_same_weights(alone, fused)
