"""A regularization path: one configuration of the exact trainer solved for a whole λ grid.

As glmnet and scikit-learn's ``*CV`` estimators do, the grid runs from the largest λ down, each
point warm-started from the one before, with the sequential strong rule (Tibshirani et al.,
2012) as the screening rule: at λ_k a feature j enters the working set only if it is non-zero
at λ_{k−1} or |∇_j f| ≥ ρ(2λ_k − λ_{k−1}); the working problem is solved to ``tol``, and the
features the rule left out are checked against the KKT condition |∇_j f| ≤ ρλ_k, violators
added and the problem solved again. For least squares each point first tries the exact
solve on the previous point's support and signs (an active-set homotopy: features enter when
they break the KKT condition, leave when their sign flips), which on a fine grid is usually
right at once; the proximal gradient runs only when it is not. Either way every point meets
the same stopping rule as a cold ``train_exact`` on the whole problem: dist(0, ∂F) ≤ ``tol``.

A relaxed regression path (``relax``: glmnet's ``relax = TRUE``) stores each λ at several
relax values, each its own point: the fold solutions moved that far towards the least squares
on their supports (``regtune.worker.trainers.relax``), one solve serving them all. The path
itself, and the warm starts it leaves, are the elastic net's.

Folds advance together, one λ at a time; the path stops when the mean validation metric has
not improved for ``patience`` points with some weight non-zero (glmnet stops a path early for the
same reason; the all-zero models at its top tie, they do not count).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from regtune.worker.data import Fold, setup_step
from regtune.worker.evaluation import AffineScorer, mean_of, rows_of
from regtune.worker.trainers.config import StopCheck, TrainConfig
from regtune.worker.trainers.exact import input_dropout_l2, input_noise_l2
from regtune.worker.trainers.fista import (
    Fista,
    LinearState,
    _CrossEntropy,
    _LeastSquares,
    _Smooth,
    per_fold,
    threads_for,
)
from regtune.worker.trainers.moments import FoldMoments
from regtune.worker.trainers.newton import newton_on_support
from regtune.worker.trainers.relax import SupportFits
from regtune.worker.trainers.result import TrainResult, build_result


@dataclass
class PathPoint:
    """One λ (and relax) of a path: the result a single trial there would have had."""

    lam: float
    result: TrainResult
    relax: float = 0.0


SIGMA_KEY = "path_sigma"
"""``Fold.derived``: the cross-entropy's design (rows and intercept column)'s spectral norm."""


class _FoldPath:
    """One fold's problem, prepared once for every λ: the centered Gram matrix (regression,
    ``FoldMoments``) or the design with its intercept column (cross-entropy), and the current
    solution, packed as ``fista`` packs it (W, and for the cross-entropy a last column b)."""

    def __init__(self, config: TrainConfig, fold: Fold, start: LinearState | None) -> None:
        n, d = fold.X_train.shape
        self.n_features, self.n_entries = d, n * d
        self.regression = config.task == "regression"
        self.n_out = config.n_out if config.task == "multiclass" else 1
        input_l2 = np.zeros(d)
        if config.dropout > 0:
            input_l2 += input_dropout_l2(
                fold.X_train, task=config.task, n_out=config.n_out, dropout=config.dropout
            )
        if config.input_noise > 0:
            input_l2 += input_noise_l2(
                d, task=config.task, n_out=config.n_out, std=config.input_noise
            )
        self.input_l2 = torch.from_numpy(input_l2)
        if self.regression:
            moments = FoldMoments.of(fold)
            self.x_mean, self.y_mean = moments.x_mean, moments.y_mean
            self.gram, self.cross, self.yy = moments.gram, moments.cross, moments.yy
            self.gram_norm = moments.gram_norm
            self.P = torch.zeros(1, d, dtype=torch.float64)
            # numpy views of the same memory, for the exact solve on the support (below)
            self.gram_np, self.cross_np = self.gram.numpy(), self.cross[0].numpy()
            self.x_mean_np, self.y_mean_value = self.x_mean.numpy(), float(self.y_mean)
        else:
            X = torch.from_numpy(np.asarray(fold.X_train)).double()
            y = torch.from_numpy(np.asarray(fold.y_train))
            fresh = _CrossEntropy.of(X, y, torch.zeros(d, dtype=torch.float64), self.n_out)
            self.X, self.target, self.binary = fresh.X, fresh.target, fresh.binary
            design = self.X  # an SVD of the rows: once a fold
            self.sigma = fold.kept(
                SIGMA_KEY, lambda: float(torch.linalg.matrix_norm(design, ord=2))
            )
            self.P = torch.zeros(self.n_out, d + 1, dtype=torch.float64)
        if start is not None:
            weight = start.weight.detach().double().reshape(self.n_out, d)
            self.P[:, :d] = weight
            if not self.regression:
                self.P[:, d] = start.bias.detach().double().reshape(self.n_out)
        self.iterations = 0
        self.converged = False

    burst = 10
    """Proximal gradient iterations between two tries of the exact solve on the support."""

    def gradient(self, l2: torch.Tensor) -> torch.Tensor:
        """∇f over W at the current solution (n_out, d), on every feature."""
        d = self.n_features
        if self.regression:  # in numpy: torch's per-call work exceeds a d × d product's
            P, l2_np = self.P.numpy(), l2.numpy()
            return torch.from_numpy(P @ self.gram_np + l2_np * P - self.cross_np)
        logits = self.X @ self.P.T
        prob = torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=1)
        return ((prob - self.target).T @ self.X[:, :d]) / len(self.X) + l2 * self.P[:, :d]

    def _smooth(self, active: torch.Tensor, l2: torch.Tensor) -> _Smooth:
        """The smooth part on the working set (the other weights held at 0)."""
        if self.regression:
            hessian = self.gram[active][:, active] + torch.diag(l2[active])
            return _LeastSquares(
                hessian=hessian,
                cross=self.cross[:, active],
                yy=self.yy,
                x_mean=self.x_mean[active],
                y_mean=self.y_mean,
                lipschitz=self.gram_norm + float(l2.max()),  # ≥ the sub-Hessian's (interlacing)
            )
        columns = self._columns(active)
        return _CrossEntropy(
            X=self.X[:, columns],
            target=self.target,
            l2=torch.cat([l2[active], l2.new_zeros(1)]),
            binary=self.binary,
            sigma=self.sigma,
        )

    def _columns(self, active: torch.Tensor) -> torch.Tensor:
        if self.regression:
            return active
        return torch.cat([active, torch.tensor([self.n_features])])

    def solve(
        self,
        lam: float,
        previous: float,
        *,
        l1_ratio: float,
        tol: float,
        max_iter: int,
        stop: StopCheck | None,
    ) -> None:
        """Move the solution from λ = ``previous`` to ``lam``: screen, solve, check the KKT."""
        d = self.n_features
        l1 = lam * l1_ratio
        l2 = lam * (1 - l1_ratio) + self.input_l2
        self.iterations = 0
        self.converged = self._newton(l1, l2, tol)  # on a fine grid, usually right at once
        if self.converged:
            return
        if l1 > 0:  # the screening, at the previous point's solution (a failed try keeps it)
            threshold = l1_ratio * (2 * lam - previous)
            strong = (self.gradient(l2).abs() >= threshold).any(0)
            keep = (self.P[:, :d] != 0).any(0) | strong
        else:
            keep = torch.ones(d, dtype=torch.bool)
        while not self.converged:
            active = torch.nonzero(keep).flatten()
            columns = self._columns(active)
            solver = Fista.on(
                self._smooth(active, l2),
                self.P[:, columns],
                l1=l1,
                n_features=len(active),
                n_entries=self.n_entries,
            )
            while self.iterations < max_iter and not solver.converged:
                steps = min(self.burst, max_iter - self.iterations)
                before = solver.iterations
                solver.run(steps, tol=tol, stop=stop)
                self.iterations += solver.iterations - before
                self.P[:, :d] = 0
                self.P[:, columns] = solver.P
                if self._newton(l1, l2, tol):
                    self.converged = True
                    return
            self.converged = solver.converged
            if l1 == 0:
                return
            violators = ~keep & (self.gradient(l2).abs() > l1).any(0)
            if not bool(violators.any()):
                return
            # the screening left out a feature the KKT condition lets in: this is the minimizer
            # over the kept features only, so the point is not solved until they enter
            self.converged = False
            if self.iterations >= max_iter:
                return
            keep |= violators

    def _newton(self, l1: float, l2: torch.Tensor, tol: float, tries: int = 4) -> bool:
        """Regression: the exact minimizer, if the current support and signs are its own.

        On the support S with signs s the minimizer solves (G_SS + diag(l2_S)) w = c_S − l1·s:
        one small linear solve (glmnet's speed comes from the same fact). Features whose
        gradient breaks the KKT condition enter S with the sign that lowers F, those whose sign
        flips leave it, and the solve is tried again, ``tries`` times at most. The solution is
        taken when the whole problem's dist(0, ∂F) ≤ ``tol``, the promise every point keeps;
        otherwise the proximal gradient goes on. Cross-entropy: Newton's method on the support
        (``newton_on_support``), under the same rule."""
        if self.regression:
            return self._least_squares(l1, l2.numpy(), tol, tries)
        found = newton_on_support(
            self.X,
            self.target,
            self.P,
            binary=self.binary,
            l1=l1,
            l2=torch.cat([l2, l2.new_zeros(1)]),
            tol=tol,
        )
        if found is None:
            return False
        self.P = found
        return True

    def _least_squares(self, l1: float, l2: np.ndarray, tol: float, tries: int = 4) -> bool:
        """``_newton`` for regression, in numpy on the solution's own memory: the problem is
        the features' Gram matrix, so each step is a handful of operations on d × d arrays,
        where torch's per-call work was most of a path's solve (0.18 ms per fold and λ)."""
        weight = self.P.numpy()[0]
        inside = (weight != 0) if l1 > 0 else np.ones(len(weight), dtype=bool)
        signs = np.sign(weight)
        for _ in range(tries):
            support = np.flatnonzero(inside)
            candidate = np.zeros_like(weight)
            if len(support):
                hessian = self.gram_np[np.ix_(support, support)] + np.diag(l2[support])
                rhs = self.cross_np[support] - l1 * signs[support]
                try:
                    solved = np.linalg.solve(hessian, rhs)
                except np.linalg.LinAlgError:  # singular: no ridge part and collinear features
                    return False
                flipped = np.sign(solved) != signs[support]
                if l1 > 0 and bool(flipped.any()):  # they cross zero: they leave the support
                    inside[support[flipped]] = False
                    continue
                candidate[support] = solved
            gradient = candidate @ self.gram_np + l2 * candidate - self.cross_np
            entering = ~inside & (np.abs(gradient) > l1)
            if bool(entering.any()):
                inside = inside | entering
                signs = np.where(entering, -np.sign(gradient), signs)
                continue
            minimal = np.where(candidate != 0, gradient + l1 * np.sign(candidate), 0.0)
            if float(np.linalg.norm(minimal)) > tol:
                return False
            weight[:] = candidate
            return True
        return False


class _SupportsTogether:
    """``_FoldPath._least_squares`` for every fold of a regression path at once: the folds'
    Gram matrices stacked, each fold's system on its support solved as one batched solve (the
    rows and columns off the support replaced by the identity's, so they solve to 0). A point's
    folds usually take the exact solve at the first try, and one batched step of a dozen numpy
    calls replaces one per fold. Folds it leaves unsolved go on alone (``_FoldPath.solve``).
    Up to ``FEATURES`` features: beyond, a fold's solve on its support alone costs less.

    The lasso (``l1_ratio`` 1) needs no solve for a point's first try. On a support S with signs
    s its minimizer is w = H⁻¹(c − λs) with H = G_SS (+ the inputs' fixed L2) the same at every
    λ: the path is a line in λ until the support changes (LARS' observation). Each solve also
    gives the line's slope H⁻¹s, so the next λ's first try, on the previous point's support and
    signs, is w − Δλ·H⁻¹s; only a changed support takes a solve."""

    FEATURES = 64

    def __init__(self, paths: Sequence[_FoldPath]) -> None:
        self.paths = paths
        self.gram = np.stack([path.gram_np for path in paths])
        self.cross = np.stack([path.cross_np for path in paths])
        self.input_l2 = np.stack([path.input_l2.numpy() for path in paths])
        self.eye = np.eye(self.gram.shape[1], dtype=bool)
        self.slope = np.zeros_like(self.cross)
        """Each fold's H⁻¹s on its solution's support and signs, where ``sloped`` says so."""
        self.sloped = np.zeros(len(paths), dtype=bool)
        self.sloped_l1 = 0.0
        """The L1 strength of the solutions ``slope`` continues."""

    @classmethod
    def of(cls, paths: Sequence[_FoldPath]) -> _SupportsTogether | None:
        if not paths or not paths[0].regression or paths[0].n_features > cls.FEATURES:
            return None
        return cls(paths)

    def solve(self, lam: float, l1_ratio: float, tol: float, tries: int = 4) -> list[bool]:
        """Which folds now hold their exact minimizer at ``lam`` (set as their solution)."""
        l1, l2 = lam * l1_ratio, lam * (1 - l1_ratio) + self.input_l2
        weight = np.stack([path.P.numpy()[0] for path in self.paths])
        inside = weight != 0 if l1 > 0 else np.ones_like(weight, dtype=bool)
        signs = np.sign(weight)
        hessian: np.ndarray | None = None  # made for the first solve: the line's try needs none
        open_ = np.ones(len(self.paths), dtype=bool)  # still trying
        solved = np.zeros(len(self.paths), dtype=bool)
        sloped = np.zeros(len(self.paths), dtype=bool)  # solved here, the slope known
        lasso = l1_ratio == 1
        along = lasso and bool(self.sloped.all())  # the first try follows the lines
        slope = self.slope
        for attempt in range(tries + along):
            if attempt == 0 and along:
                candidate = weight - (l1 - self.sloped_l1) * self.slope
            else:
                if hessian is None:
                    hessian = self.gram + l2[:, :, None] * self.eye
                both = inside[:, :, None] & inside[:, None, :]
                system = np.where(both, hessian, self.eye)
                rhs = np.stack([self.cross - l1 * signs, signs], axis=2)  # and the slope's
                try:
                    found = np.linalg.solve(system, np.where(inside[:, :, None], rhs, 0.0))
                except np.linalg.LinAlgError:  # a fold's is singular: each open fold tries alone
                    for f in np.flatnonzero(open_):
                        solved[f] = self.paths[int(f)]._least_squares(l1, l2[f], tol, tries)
                    break
                candidate, slope = found[:, :, 0], found[:, :, 1]
            flipped = inside & (np.sign(candidate) != signs) if l1 > 0 else ~inside
            flips = open_ & flipped.any(1)
            inside[flips] &= ~flipped[flips]  # they cross zero: they leave the support
            gradient = (candidate[:, None, :] @ self.gram)[:, 0] + l2 * candidate - self.cross
            entering = ~inside & (np.abs(gradient) > l1)
            enters = open_ & ~flips & entering.any(1)
            inside[enters] |= entering[enters]
            signs[enters] = np.where(entering[enters], -np.sign(gradient[enters]), signs[enters])
            final = open_ & ~flips & ~enters
            minimal = np.where(candidate != 0, gradient + l1 * np.sign(candidate), 0.0)
            met = final & (np.linalg.norm(minimal, axis=1) <= tol)
            solved |= met
            sloped |= met
            for f in np.flatnonzero(met):
                self.paths[int(f)].P.numpy()[0] = candidate[f]
                self.slope[f] = slope[f]
            # a line's end short of the tolerance (rounding) takes the solve
            open_ &= ~(met if attempt == 0 and along else final)
            if not open_.any():
                break
        self.sloped, self.sloped_l1 = sloped & lasso, l1
        return solved.tolist()


def largest_gradient(folds: Sequence[Fold], *, task: str, n_out: int) -> float:
    """The largest |∇_j f| over the folds at the model of the intercept alone: a weight stays 0
    while |∇_j f| ≤ ρλ there, so every weight of every fold is 0 from λ = this / ρ (glmnet's
    λ_max; ρ = ``l1_ratio``). The ridge parts add nothing at 0. Part of a claim's setup: a
    stop is seen between folds (``setup_step``)."""
    largest = 0.0
    for fold in folds:
        setup_step()
        X = np.asarray(fold.X_train, dtype=np.float64)
        y = np.asarray(fold.y_train)
        if task == "multiclass":
            target = np.eye(n_out)[y.astype(np.int64)]
        else:
            target = y.astype(np.float64)[:, None]
        # the intercept alone predicts the mean (least squares) or the class frequencies
        # (cross-entropy): either way the residual is the target less its mean
        residual = target - target.mean(0)
        largest = max(largest, float(np.abs(residual.T @ X).max()) / len(X))
    return largest


def _improved(value: float, best: float, direction: str) -> bool:
    return value < best if direction == "minimize" else value > best


def train_path(
    config: TrainConfig,
    folds: list[Fold],
    lambdas: Sequence[float],
    *,
    patience: int | None = None,
    warm_start: Sequence[LinearState] | None = None,
    stop: StopCheck | None = None,
    relax: Sequence[float] | None = None,
) -> list[PathPoint]:
    """Solve ``config`` (its ``lam`` ignored) at every λ of ``lambdas``, largest first, on every
    fold; stop after ``patience`` points without a better validation value. ``warm_start``: one
    state per fold for the first point; ``stop`` is called before each fold's setup (its Gram
    matrix takes seconds on large data), before every point, whichever solve serves it (the
    exact solve on the support runs no solver iteration), before every solver iteration, and
    once the path has ended, before its points are scored: a stop hands the whole path back.
    ``relax``: the relax values each λ is stored at, one point each in that order (a λ's best
    is what the stopping rule compares); default ``config.relax`` alone.

    A regression point's validation error is computed as it is solved (the stopping rule needs
    it); its test error, and every point's result, once the path has ended, all points at once
    (``AffineScorer.mses``)."""
    if config.model_kind != "linear" or config.solver != "exact":
        raise ValueError(f"a λ path needs the exact solver on a linear model, got {config=}")
    if list(lambdas) != sorted(lambdas, reverse=True):
        raise ValueError(f"a λ path runs from the largest λ down, got {lambdas=}")
    shares = tuple(relax) if relax is not None else (config.relax,)
    if not shares:
        raise ValueError("a path stores each λ at one relax value at least, got none")
    if any(share > 0 for share in shares) and config.task != "regression":
        raise ValueError(f"relax applies to least squares, got {config.task=}")
    starts = per_fold(warm_start, len(folds))
    options = config.exact
    solved_points: list[_Solved] = []
    best, since_best = math.nan, 0
    with threads_for(sum(fold.X_train.size for fold in folds)):
        paths = []
        for fold, start in zip(folds, starts, strict=True):
            _check(stop)
            paths.append(_FoldPath(config, fold, start))
        scorer = AffineScorer(folds, config.task)
        together = _SupportsTogether.of(paths)
        fits = None
        if any(share > 0 for share in shares):
            fits = SupportFits(
                np.stack([path.gram_np for path in paths]),
                np.stack([path.cross_np for path in paths]),
                np.stack([path.input_l2.numpy() for path in paths]),
            )
        previous = lambdas[0] if lambdas else 0.0
        for lam in lambdas:
            _check(stop)
            started = time.perf_counter()
            solved = [False] * len(paths)
            if together is not None:
                solved = together.solve(lam, config.l1_ratio, options.tol)
            for path, exact in zip(paths, solved, strict=True):
                if exact:
                    path.iterations, path.converged = 0, True
                    continue
                path.solve(
                    lam,
                    previous,
                    l1_ratio=config.l1_ratio,
                    tol=options.tol,
                    max_iter=options.max_iter,
                    stop=stop,
                )
            previous = lam
            variants = _Solved.of(paths, lam, started, config, scorer, fits, shares)
            solved_points.extend(variants)
            point = variants[0]
            for variant in variants[1:]:
                if _improved(variant.value, point.value, config.direction):
                    point = variant
            if math.isnan(best) or _improved(point.value, best, config.direction):
                best, since_best = point.value, 0
            elif point.weights.any():  # the empty models at the top of a path all tie
                since_best += 1
            if patience is not None and since_best >= patience:
                break
        _check(stop)
    return _points(config, folds, solved_points, scorer)


def _check(stop: StopCheck | None) -> None:
    if stop is not None:
        stop()


@dataclass
class _Solved:
    """A solved point of a path, before its result is built: each fold's affine layer, solver
    outcome and validation metrics."""

    lam: float
    relax: float
    weights: np.ndarray
    """The models' weights (folds, outputs, inputs), float64: relaxed, if the point is."""
    biases: np.ndarray
    """(folds, outputs)."""
    iterations: list[int]
    converged: bool
    seconds: float
    value: float
    """The mean validation metric the stopping rule compares (the worst value if not finite)."""
    val_folds: list[dict[str, float]]
    """Each fold's validation metrics, scored as it was solved (the stopping rule needs them)."""
    test_folds: list[dict[str, float]] | None = None
    """Each fold's test metrics: classification's scored with the validation rows, regression's
    all points' at once when the path has ended (``_points``)."""
    solutions: tuple[np.ndarray, np.ndarray] | None = None
    """A relaxed point's elastic-net solutions (weights, biases), shaped as the model's: its
    states (the warm start of neighbouring trials). None: they are the model's."""

    @classmethod
    def of(
        cls,
        paths: list[_FoldPath],
        lam: float,
        started: float,
        config: TrainConfig,
        scorer: AffineScorer,
        fits: SupportFits | None = None,
        relax: Sequence[float] = (0.0,),
    ) -> list[_Solved]:
        """The λ just solved as a point per ``relax`` value (``fits``: a relaxed regression
        path's), each scored on the validation rows."""
        d = paths[0].n_features
        packed = np.stack([path.P.numpy() for path in paths])
        iterations = [path.iterations for path in paths]
        converged = all(path.converged for path in paths)
        seconds = (time.perf_counter() - started) / len(relax)
        made = partial(cls, lam=lam, iterations=iterations, converged=converged, seconds=seconds)
        if not paths[0].regression:
            weights, biases = packed[:, :, :d].copy(), packed[:, :, d].copy()
            val_folds, test_folds = scorer(list(zip(weights, biases, strict=True)))
            value = cls._value(val_folds, config, scorer)
            return [
                made(
                    relax=relax[0],
                    weights=weights,
                    biases=biases,
                    value=value,
                    val_folds=val_folds,
                    test_folds=test_folds,
                )
            ]
        solution = packed[:, 0]
        if fits is None:  # every relax value 0
            models = np.repeat(solution[None], len(relax), axis=0)
        else:  # (relax values, folds, inputs)
            least = fits.least_squares(solution)
            models = np.stack([(1 - share) * solution + share * least for share in relax])
        x_means = np.stack([path.x_mean_np for path in paths])
        y_means = np.array([path.y_mean_value for path in paths])
        biases = y_means - np.einsum("pfd,fd->pf", models, x_means)
        scored = scorer.metrics("val", scorer.mses("val", models, biases))
        solutions = None if fits is None else (packed, _biases(paths, packed))
        return [
            made(
                relax=share,
                weights=weights[:, None, :],
                biases=bias[:, None],
                value=cls._value(val_folds, config, scorer),
                val_folds=val_folds,
                solutions=solutions,
            )
            for share, weights, bias, val_folds in zip(relax, models, biases, scored, strict=True)
        ]

    @staticmethod
    def _value(
        val_folds: list[dict[str, float]], config: TrainConfig, scorer: AffineScorer
    ) -> float:
        """The mean validation metric, the worst value if it is not finite."""
        value = mean_of("val", val_folds, rows=rows_of(scorer.folds, "val"))[config.metric]
        worst = -math.inf if config.direction == "maximize" else math.inf
        return value if math.isfinite(value) else worst


def _biases(paths: list[_FoldPath], weights: np.ndarray) -> np.ndarray:
    """Regression: each fold's intercept for its weights (folds, 1, inputs), ȳ − w·x̄."""
    return np.stack([p.y_mean_value - w @ p.x_mean_np for p, w in zip(paths, weights, strict=True)])


def _points(
    config: TrainConfig, folds: list[Fold], solved: list[_Solved], scorer: AffineScorer
) -> list[PathPoint]:
    """The path's points as the results single trials at their λ would have had."""
    unscored = [point for point in solved if point.test_folds is None]
    if unscored:  # regression: every point's test rows in one product
        weights = np.stack([point.weights[:, 0] for point in unscored])
        biases = np.stack([point.biases[:, 0] for point in unscored])
        tests = scorer.metrics("test", scorer.mses("test", weights, biases))
        for point, test_folds in zip(unscored, tests, strict=True):
            point.test_folds = test_folds
    points = []
    for point in solved:
        assert point.test_folds is not None, "every point is scored by now"
        epochs = max(1, math.ceil(max(point.iterations) / config.exact.report_every))
        weights, biases = point.solutions or (point.weights, point.biases)
        states = [
            LinearState(torch.from_numpy(w), torch.from_numpy(b))
            for w, b in zip(weights, biases, strict=True)
        ]
        result = build_result(  # no modules: the states are the point's linear models
            config,
            [],
            folds,
            started=time.perf_counter() - point.seconds,
            epochs_run=epochs,
            best_epoch=epochs,
            curve=None,
            states=states,
            iterations=point.iterations,
            converged=point.converged,
            scores=(point.val_folds, point.test_folds),
            stacked=point.weights,
        )
        points.append(PathPoint(point.lam, result, point.relax))
    return points
