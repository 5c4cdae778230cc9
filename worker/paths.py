"""λ-path trials (DESIGN.md, "Regularization-path trials"): one claim, one choice of the other
knobs from the sampler, a whole λ path stored as trials.

With ``relax`` searched (a relaxed regression), each λ is stored at ``relax_values`` too, each
(λ, relax) its own trial: one solve serves them all, as glmnet's relaxed fit does.

The claim's own trial is the path's first point (largest λ); the loop lends the objective
``PathSlots``: one more slot of the study per further point, taken in one transaction and linked
to that trial, and the one transaction that writes the further points as finished trials and
releases those slots. What a path does not write (it stopped early, failed, was stopped) goes
back at once: a stop (the solver's check at every point, ``PathSlots.stop`` before the write)
writes none of its points, and its own trial is handed back, or ends with its study, as a single
trial is; if the worker dies, the sweep treats every slot as the trial's own. ``run_path`` is
that protocol, whatever solves the path: the exact solver (``regtune.worker.objective``) or the
sleep objective of the protocol tests and benchmarks.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_names
from regtune.service.spec.points import runs_a_path
from regtune.service.spec.space import Choices, Fixed, Range, grid_values
from regtune.service.store.optuna_db.attrs import PATH_OF_ATTR, POINT_ATTR
from regtune.service.store.optuna_db.internals.batched import note_params
from regtune.service.store.optuna_db.internals.handles import study_id_of, trial_id_of
from regtune.service.store.optuna_db.internals.trial_lines import log_written
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.scheduling import paths
from regtune.service.store.scheduling.claims import stopping, taking
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.worker.search import ObjectiveFactory, StopCheck, suggest

LAMBDA = "lambda"
RELAX = "relax"
RELAX_VALUES = 3
"""The relax values a path stores each λ at when relax is a range without a step: its ends and
middle (0, 0.4 and 0.8 by default). glmnet's relaxed fit scores 5 at each of its 100 λ; the
budget counts configurations here, and 3 leave a path more λ values."""


@dataclass(frozen=True)
class PathSlots:
    """What the loop lends a path objective: the claim it runs under, and who holds it."""

    claim: Claim
    worker_id: str
    wrote: Callable[[int], None] = lambda _points: None
    """Told how many further points each ``write`` stored (the worker's tally of trials)."""
    stop: StopCheck = lambda: None
    """The claim's stop check (raises to stop), asked once more before the points are written:
    a stop or cancel seen after the last point was solved writes none of them either."""

    def take(self, trial: optuna.Trial, count: int) -> list[int]:
        """Up to ``count`` more slots for ``trial``'s path → their claim ids."""
        taken = taking.extend(
            claim=self.claim,
            worker_id=self.worker_id,
            slots=count,
            trial_id=trial_id_of(trial),
        )
        return [t.id for t in taken]

    def write(
        self,
        trial: optuna.Trial,
        slots: list[int],
        points: list[FrozenTrial],
        *,
        first: FrozenTrial | None = None,
    ) -> int:
        """The further ``points`` under ``slots``, and ``first``'s params and attributes on
        ``trial``: one commit, every slot released. The points written stay in the worker's
        cache of the study, which the sampler's next read then leaves out."""
        optuna_study_id = study_id_of(trial.study)
        written = paths.write_points(
            optuna_study_id=optuna_study_id,
            study_id=self.claim.study_id,
            trial_id=trial_id_of(trial),
            slots=slots,
            points=points,
            first=first,
            stop=stopping.Rule.of(self.claim.definition),
        )
        if isinstance(trial.storage, WorkerHeartbeats):
            trial.storage.add_written(optuna_study_id, points[:written])
        self.wrote(written)
        return written

    def release(self, slots: list[int]) -> int:
        return paths.release(study_id=self.claim.study_id, slots=slots)


@dataclass
class Point:
    """One λ (and relax) of a solved path: what the trial there records."""

    lam: float
    values: list[float]
    """The objective value(s), as the single trial would return them."""
    user_attrs: dict[str, Any] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)
    curve: dict[int, float] = field(default_factory=dict)
    """Reported values by epoch (Optuna's intermediate values)."""
    system_attrs: dict[str, Any] = field(default_factory=dict)
    """What the trial at this λ keeps in its system attributes (e.g. its coefficients)."""
    relax: float | None = None
    """The point's relax value, on a relaxed path (``Grid.relax``)."""


@dataclass(frozen=True)
class Grid:
    """A path's λ values, but for where the data puts its ends: ``points`` log-spaced over the
    searched range [``low``, ``high``], shifted by ``offset`` of a step."""

    low: float
    high: float
    points: int
    offset: float = 0.0
    min_ratio: float | None = None
    """The path ends at this fraction of the lasso's λ_max (``lambdas``), if above ``low``."""
    relax: tuple[float, ...] = ()
    """The relax values each λ is stored at, in order, one point each (``relax_values``); none:
    one point per λ."""

    def lambdas(self, gradient: float | None = None, *, l1_ratio: float = 1.0) -> list[float]:
        """The values, largest first. ``gradient``, if known: the largest gradient of the loss
        at the intercept-only model. Every weight is 0 from λ_max = gradient / ``l1_ratio`` up
        (the same empty model), so the path starts there, and it ends at ``min_ratio`` ×
        gradient: the grid of glmnet and scikit-learn's ``ElasticNetCV`` for the lasso, which
        a smaller ``l1_ratio`` extends upwards only. Both ends stay inside the searched range;
        every λ of the range zeroing every weight, the range as it is."""
        high, low = self.high, self.low
        if gradient is None:
            return lambda_grid(low, high, self.points, offset=self.offset)
        top = gradient / l1_ratio if l1_ratio > 0 else math.inf
        if top > low:
            high = min(high, top)
            end = gradient * self.min_ratio if self.min_ratio is not None else low
            low = end if low < end < high else low
        return lambda_grid(low, high, self.points, offset=self.offset)


Solve = Callable[[dict[str, float], Grid], list[Point]]
"""(the other knobs' values, the path's λ grid) → a point per λ solved (per λ and relax value of
``Grid.relax``, relax inner), largest λ first; fewer than the grid when the path stopped early,
never none."""


def relax_values(spec: StudySpec) -> tuple[float, ...]:
    """The relax values a path stores each λ at: a searched relax's choices, its range's steps,
    or its ends and middle (``RELAX_VALUES``); none when relax is fixed or left out (every point
    at that value)."""
    param = spec.search_space.relax
    if param is None or isinstance(param, Fixed):
        return ()
    if isinstance(param, Choices):
        return tuple(float(c) for c in param.choices)
    if param.step is not None:
        return tuple(float(v) for v in grid_values(param))
    spaced = np.geomspace if param.log else np.linspace
    return tuple(float(v) for v in spaced(param.low, param.high, RELAX_VALUES))


def relax_distribution(spec: StudySpec) -> BaseDistribution:
    """The distribution a searched relax's trials record (as ``suggest`` would have)."""
    param = spec.search_space.relax
    if isinstance(param, Choices):
        return CategoricalDistribution([float(c) for c in param.choices])
    assert isinstance(param, Range), "a path enumerates a searched relax only"
    return FloatDistribution(param.low, param.high, log=param.log, step=param.step)


def lambda_distribution(spec: StudySpec) -> FloatDistribution:
    param = spec.search_space.lambda_
    assert isinstance(param, Range), "validation allows paths for a λ range only"
    return FloatDistribution(param.low, param.high, log=param.log)


def lambda_grid(low: float, high: float, points: int, *, offset: float = 0.0) -> list[float]:
    """``points`` values of λ in [low, high], log-spaced, largest first.

    ``offset`` in [0, 1) shifts the grid by that fraction of a step towards ``low``: paths with
    different offsets cover the range densely, where one fixed grid would show the sampler the
    same few values of λ again and again."""
    if not 0 < low < high:
        raise ValueError(f"a λ grid needs 0 < low < high, got {low=}, {high=}")
    if points < 1:
        raise ValueError(f"points must be ≥ 1, got {points=}")
    if not 0 <= offset < 1:
        raise ValueError(f"offset must be in [0, 1), got {offset=}")
    top, span = math.log(high), math.log(high) - math.log(low)
    if points == 1:
        return [high * (low / high) ** offset]
    step = span / (points - 1) if offset == 0 else span / points
    return [min(high, max(low, math.exp(top - (k + offset) * step))) for k in range(points)]


def path_rng(spec: StudySpec, trial: optuna.Trial, *stream: int) -> np.random.Generator:
    """The path's own random numbers, from the sampler's seed and the trial's number (and
    ``stream``, one per use): reproducible, different for each path."""
    seed = spec.sampler.seed if spec.sampler.seed is not None else 0
    return np.random.default_rng([seed, trial.number, *stream])


def grid_for(spec: StudySpec, points: int, trial: optuna.Trial) -> Grid:
    """The trial's path of ``points`` trials: enough values over the searched λ range (each at
    every ``relax_values``), shifted by an offset drawn from the sampler's seed and the trial's
    number (reproducible, different for each path)."""
    distribution = lambda_distribution(spec)
    offset = float(path_rng(spec, trial).random())
    path = spec.training.lambda_path
    assert path is not None, "validation allows grids for λ paths only"
    relax = relax_values(spec)
    lambdas = -(-points // max(1, len(relax)))  # ceil
    return Grid(distribution.low, distribution.high, lambdas, offset, path.min_ratio, relax)


def run_path(
    trial: optuna.Trial,
    spec: StudySpec,
    *,
    slots: PathSlots,
    solve: Solve,
    single: Callable[[optuna.Trial], float | list[float]],
) -> float | list[float]:
    """The objective of a path's own trial: take the path's slots, solve, write the further
    points and release every slot in one transaction, and return the first point's value.
    Each point is logged once with all its parameters: the further ones as they are written,
    the first by Optuna as it ends, with the λ (and relax) it was given here.
    With no further slot to be had (the budget's last trial, or the slots left kept for the
    study's queued points and retries) the trial runs as a single trial, λ from the sampler
    (``single``)."""
    assert spec.training.lambda_path is not None, "run_path serves λ-path studies only"
    if _point_fixes_the_path(trial, spec):
        return single(trial)
    relaxed = bool(relax_values(spec))  # relax is a path's, not the sampler's
    values = suggest(trial, spec, skip=(LAMBDA, RELAX) if relaxed else (LAMBDA,))
    taken = slots.take(trial, spec.path_points - 1)
    if not taken:
        return single(trial)
    try:
        grid = grid_for(spec, 1 + len(taken), trial)
        rng = path_rng(spec, trial, len(grid.relax))
        points = kept(solve(values, grid), 1 + len(taken), grid.relax, rng)
        # the trial's params and distributions once: each read of them is a deep copy
        params, distributions = trial.params, trial.distributions
        distributions[LAMBDA] = lambda_distribution(spec)
        if relaxed:
            distributions[RELAX] = relax_distribution(spec)
        first, *further = (
            _frozen(point, params, distributions, path_of=trial.number) for point in points
        )
        del first.system_attrs[PATH_OF_ATTR]  # the path's own trial
        slots.stop()
        done, taken = taken, []
        written = slots.write(trial, done, further, first=first)
        note_params(trial, first.params, first.distributions)
        log_written(further[:written], objective_names(spec))
        values_ = points[0].values
        return values_[0] if len(values_) == 1 else values_
    finally:
        if taken:
            slots.release(taken)


def kept(
    points: list[Point], n: int, relax: tuple[float, ...], rng: np.random.Generator
) -> list[Point]:
    """The first ``n`` of a path's ``points``, but for a λ that has room for only some of its
    relax values (``n`` not a multiple of them): those are drawn with ``rng`` (the path's own),
    not its first ones (a 2-point path of relax 0, 0.4, 0.8 stored 0 and 0.4 only, so that a
    study of 16 trials never tried 0.8)."""
    if len(points) <= n or len(relax) < 2:
        return points[:n]
    whole, left = divmod(n, len(relax))
    drawn = sorted(rng.choice(len(relax), size=left, replace=False).tolist())
    partial = points[whole * len(relax) : (whole + 1) * len(relax)]
    return points[: whole * len(relax)] + [partial[i] for i in drawn if i < len(partial)]


def _point_fixes_the_path(trial: optuna.Trial, spec: StudySpec) -> bool:
    """Whether ``trial`` runs a point of ``sampler.points_to_evaluate`` that gives λ (or relax,
    which a path chooses too): that one configuration, as given, not a path through it."""
    index = trial.user_attrs.get(POINT_ATTR)
    points = spec.sampler.points_to_evaluate or []
    return isinstance(index, int) and 0 <= index < len(points) and not runs_a_path(points[index])


def _frozen(
    point: Point,
    params: dict[str, Any],
    distributions: dict[str, BaseDistribution],
    *,
    path_of: int,
) -> FrozenTrial:
    """``point`` as a finished trial of the path's other knobs (``params``, without λ and a
    path's relax), under ``distributions`` (theirs included)."""
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE,
        value=point.values[0] if len(point.values) == 1 else None,
        values=point.values if len(point.values) > 1 else None,
        params={
            **params,
            LAMBDA: point.lam,
            **({} if point.relax is None else {RELAX: point.relax}),
        },
        distributions=distributions,
        user_attrs=point.user_attrs,
        system_attrs={**point.system_attrs, PATH_OF_ATTR: path_of},
        constraints=point.constraints or None,
        intermediate_values=point.curve,
    )


def build_objective(
    factory: ObjectiveFactory, spec: StudySpec, *, stop_check: StopCheck, slots: PathSlots
) -> Callable[[optuna.Trial], Any]:
    """The claim's objective: lent the path's slots when the study runs λ paths and the factory
    takes them (a ``slots`` keyword), else one trial per claim."""
    if spec.training.lambda_path is not None and "slots" in inspect.signature(factory).parameters:
        return factory(spec, stop_check=stop_check, slots=slots)
    return factory(spec, stop_check=stop_check)
