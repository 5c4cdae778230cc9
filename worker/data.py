"""Datasets: scikit-learn built-ins, synthetic generators, and reproducible standardized splits."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from cachetools import LRUCache

from regtune.service.ingest.encoder import Encoder
from regtune.service.ingest.preprocess import FillValues
from regtune.service.model.standardizer import Standardizer
from regtune.service.spec.datasets import STRATIFY_MIN, BuiltinDataset
from regtune.worker.splits import kfold, shuffle_split, stratified_kfold, stratifies

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")

MIB = 1024 * 1024
CACHE_BYTES = 512 * MIB
_cache_lock = threading.Lock()
_SETUP_STOP: ContextVar[Callable[[], None] | None] = ContextVar("setup_stop", default=None)
"""What ``setup_step`` calls: the stop of the ``stoppable_setup`` around, none outside one."""


@contextmanager
def stoppable_setup(stop: Callable[[], None]) -> Iterator[None]:
    """Within: every ``setup_step`` calls ``stop`` (which raises to stop), so a claim's setup,
    seconds a fold on large data, ends at the next fold once its worker stops or its study is
    cancelled. The worker's loop sets it around building a claim's objective, whose factory
    prepares the data with no stop of its own to pass on."""
    token = _SETUP_STOP.set(stop)
    try:
        yield
    finally:
        _SETUP_STOP.reset(token)


def setup_step() -> None:
    """Between two steps of a claim's setup that take seconds on large data (a fold's split and
    scaling, a pass over its rows): the stop of the ``stoppable_setup`` around, if any."""
    stop = _SETUP_STOP.get()
    if stop is not None:
        stop()


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    true_support: np.ndarray | None = None
    """Indices of the features with non-zero true coefficients (sparse synthetic data only)."""
    categorical_groups: tuple[tuple[int, int], ...] = ()
    """[start, stop) feature ranges of one-hot encoded columns (uploads); NaN marks missing."""
    encoder: Encoder | None = None
    """The upload's columns, categories and labels (uploads); see ``columns``."""

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1 if self.task != "regression" else 1

    @property
    def columns(self) -> Encoder:
        """What predict needs to read a file of this data: the upload's encoder, or for built-in
        and synthetic data numeric columns named as the features, a ``target`` column and the
        class codes as labels."""
        if self.encoder is not None:
            return self.encoder
        classes = None if self.task == "regression" else [str(k) for k in range(self.n_classes)]
        return Encoder.numeric(self.feature_names, classes=classes)


@dataclass
class Fold:
    """One train/validation pair, standardized with the training split's statistics."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    scaler: Standardizer
    fill: FillValues | None = None
    """Missing-value fill fitted on this fold's training rows (when the data has holes, or
    when asked for: a saved model carries it)."""
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """What a trainer computes from these rows once and keeps while the fold is kept (a λ
    path's centered moments): the rows are never changed, so neither is what they give."""

    def kept(self, key: str, make: Callable[[], T]) -> T:
        """``derived[key]``: kept from an earlier call, or ``make()`` now (and kept)."""
        if key not in self.derived:
            self.derived[key] = make()
        return cast(T, self.derived[key])


@dataclass
class Splits:
    task: str
    n_features: int
    n_classes: int
    folds: list[Fold] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    """The model's inputs by name, in column order (encoded: ``city=oslo``)."""


def _builtin(name: str) -> Dataset:
    """A registry dataset, by scikit-learn's ``load_<name>``."""
    from sklearn import datasets as skd  # here: a study of uploaded data needs no scikit-learn

    builtin = BuiltinDataset(name)  # type: ignore[call-arg]  # lookup by value
    bunch = getattr(skd, f"load_{builtin.value}")()
    regression = builtin.task == "regression"
    y = bunch.target.astype(np.float64 if regression else np.int64)
    names = [str(n) for n in getattr(bunch, "feature_names", range(bunch.data.shape[1]))]
    return Dataset(np.asarray(bunch.data, dtype=np.float64), y, builtin.task.value, names)


def _synthetic(params: dict[str, Any]) -> Dataset:
    kind = params["kind"]
    n, d, k, seed = (
        params["n_samples"],
        params["n_features"],
        params["n_informative"],
        params["seed"],
    )
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(d)]
    if kind == "sparse_regression":
        X = rng.standard_normal((n, d))
        support = np.sort(rng.choice(d, size=k, replace=False))
        coef = np.zeros(d)
        coef[support] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(1.0, 3.0, size=k)
        y = X @ coef + params["noise"] * rng.standard_normal(n)
        return Dataset(X, y, "regression", names, true_support=support)
    from sklearn import datasets as skd

    if kind == "friedman1":
        X, y = skd.make_friedman1(
            n_samples=n, n_features=d, noise=params["noise"], random_state=seed
        )
        return Dataset(X, y, "regression", names, true_support=np.arange(5))
    n_classes = params["n_classes"]
    X, y = skd.make_classification(
        n_samples=n,
        n_features=d,
        n_informative=k,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=min(0.5, params["noise"]),
        random_state=seed,
    )
    return Dataset(X, y.astype(np.int64), "binary" if n_classes == 2 else "multiclass", names)


def _load_ref(ref_json: str, engine: Engine | None) -> Dataset:
    ref = json.loads(ref_json)
    if "builtin" in ref:
        return _builtin(ref["builtin"])
    if "synthetic" in ref:
        return _synthetic(ref["synthetic"])
    from regtune.worker.uploads import load_uploaded

    return load_uploaded(ref["id"], engine=engine)


def _nbytes(data: Dataset) -> int:
    return int(data.X.nbytes + data.y.nbytes)


def cache_bytes() -> int:
    """What a worker keeps of data between claims, per cache: a quarter of its memory limit, at
    most ``CACHE_BYTES`` (a count of datasets would let a few large uploads fill it)."""
    from regtune.service.settings import get_settings

    limit = get_settings().worker_memory_mb * MIB // 4
    return min(CACHE_BYTES, limit) if limit > 0 else CACHE_BYTES


@lru_cache
def _cache() -> LRUCache[str, Dataset]:
    """Datasets kept between claims, bounded in bytes (``cache_bytes``)."""
    return LRUCache(maxsize=cache_bytes(), getsizeof=_nbytes)


def load(ref: dict[str, Any], *, engine: Engine | None = None) -> Dataset:
    """The dataset a definition refers to; cached per process by its definition (an upload is
    read through ``engine``, the process's database by default)."""
    key = json.dumps(ref, sort_keys=True)
    cache = _cache()
    with _cache_lock:
        found = cache.get(key)
    if found is not None:
        return found
    data = _load_ref(key, engine)
    with _cache_lock:
        if _nbytes(data) <= cache.maxsize:
            cache[key] = data
    return data


def held_out(y: np.ndarray, task: str, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) positions of the rows whose target is ``y``: ``ceil(size · n)`` held
    out, as ``shuffle_split`` draws them, stratified by class for classification.

    A class of fewer than ``STRATIFY_MIN`` rows cannot be split in proportion: its rows are all
    kept (they train), and the held-out rows are drawn from the other classes, stratified when
    their counts allow it (an unstratified split of every row could hold out each row of such a
    class: trials trained and were validated on the other classes alone, and scored perfectly).
    Where the other classes hold no more rows than are held out (most rows in classes that
    small), every row is drawn unstratified, as before."""
    n = len(y)
    if task == "regression":
        return shuffle_split(n, size, seed)
    small = np.bincount(y)[y] < STRATIFY_MIN
    if not small.any():
        return shuffle_split(n, size, seed, y)
    others = np.flatnonzero(~small)
    n_held = math.ceil(size * n)
    if n_held >= len(others):
        return shuffle_split(n, size, seed)
    _, counts = np.unique(y[others], return_counts=True)
    by_class = stratifies(counts, len(others) - n_held, n_held)
    kept, held = shuffle_split(len(others), n_held, seed, y[others] if by_class else None)
    return np.concatenate([others[kept], np.flatnonzero(small)]), others[held]


def split_test(data: Dataset, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (rest, test): the held-out test split every trial and the best model share;
    no test rows at ``test_fraction`` 0."""
    if test_fraction == 0:
        index = np.arange(len(data.y))
        return index, index[:0]
    return held_out(data.y, data.task, test_fraction, seed)


def fold_positions(
    data: Dataset, rest: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The k folds of the non-test rows ``rest``: (train, validation) positions in ``rest``,
    shuffled by ``seed`` (stratified by class for classification)."""
    if data.task == "regression":
        return kfold(len(rest), folds, seed)
    return stratified_kfold(data.y[rest], folds, seed)


def make_splits(
    data: Dataset,
    *,
    test_fraction: float,
    holdout: float | None,
    folds: int | None,
    seed: int,
    with_fill: bool = False,
) -> Splits:
    """Test split first, then a holdout or k folds of the rest; same seed, same splits.

    With ``with_fill`` every fold carries its fill values even if nothing is missing.
    """
    rest, test = split_test(data, test_fraction=test_fraction, seed=seed)
    pairs: list[tuple[np.ndarray, np.ndarray]]
    if folds:
        pairs = [(rest[a], rest[b]) for a, b in fold_positions(data, rest, folds, seed)]
    else:
        train, val = held_out(data.y[rest], data.task, holdout or 0.2, seed)
        pairs = [(rest[train], rest[val])]
    out = Splits(
        task=data.task,
        n_features=data.X.shape[1],
        n_classes=data.n_classes,
        feature_names=list(data.feature_names),
    )
    holes = bool(np.isnan(data.X).any())
    for train, val in pairs:
        setup_step()
        fill = (
            FillValues.fit(data.X[train], data.categorical_groups) if holes or with_fill else None
        )
        X = fill.apply(data.X) if fill is not None else data.X
        scaler = Standardizer.fit(X[train], data.y[train], data.task)
        out.folds.append(
            Fold(
                X_train=scaler.x(X[train]),
                y_train=scaler.y(data.y[train], data.task),
                X_val=scaler.x(X[val]),
                y_val=scaler.y(data.y[val], data.task),
                X_test=scaler.x(X[test]),
                y_test=scaler.y(data.y[test], data.task),
                scaler=scaler,
                fill=fill,
            )
        )
    return out
