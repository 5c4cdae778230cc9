"""The study report's figures, on plotly: Optuna's own for the search, regtune's for the
objective against sparsity, the learning curves and the saved model's coefficients; the
regularization path's (the validation curve ± 1 SE, the sparsity and coefficient paths over λ)
are ``report_paths``', which draws with this module's colours and layout.

Every function takes what ``regtune.service.store.trials.report`` read (a sample, never every trial)
and returns a figure, or None when the study has nothing to draw there yet. Optuna's plotting and
importance modules are imported with this one (Optuna imports them lazily): the API pays that
before it serves, not on a first report. The importances are PED-ANOVA's, which need no
scikit-learn, so ``optuna.importance`` is imported without it (``optuna_importance``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.trial import create_trial
from optuna.visualization import plot_optimization_history
from plotly.subplots import make_subplots

from regtune.service.importance import optuna_importance
from regtune.service.spec.words import counted
from regtune.service.store.trials.report import BEST_KEPT, Point, ReportData

get_param_importances = optuna_importance().get_param_importances

COMPLETE_COLOR, PRUNED_COLOR, CHOSEN_COLOR = "#1f77b4", "#d62728", "#2ca02c"
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
GRID = 20
"""Cells per axis of the knob map, at most (fewer for few trials: about two per cell)."""
KNOB_POINTS = 300
"""Sampled trials drawn as dots over each cell map (a browser draws every dot as an SVG node;
the cells are computed from the whole sample)."""
SEARCH_TRIALS = 400
"""Sampled trials given to Optuna's plots (its history and importances copy every trial)."""


def laid_out(fig: go.Figure, title: str, **axes: Any) -> go.Figure:
    margin = {"l": 60, "r": 20, "t": 50}
    fig.update_layout({"title": title, "height": 420, "margin": margin, **axes})
    return fig


OVER_LIMIT = {"max_nonzero": 1.0}
"""The constraint a rebuilt trial over ``objective.max_nonzero`` carries: Optuna counts a trial
feasible when each of its constraints is ≤ 0, and draws the others as infeasible."""


def search_study(data: ReportData, direction: str) -> optuna.Study | None:
    """At most ``SEARCH_TRIALS`` of the sampled trials (evenly spaced, and the best) as an
    in-memory Optuna study, for ``optuna.visualization``: a trial over ``objective.max_nonzero``
    with a constraint it breaks, so that the history draws it as Optuna does (infeasible, never
    the best value)."""
    if not data.points:
        return None
    distributions: dict[str, BaseDistribution] = {
        name: json_to_distribution(text) for name, text in data.distributions.items()
    }
    study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")
    study.add_trials(
        [
            create_trial(
                value=p.value,
                params={k: v for k, v in values.items() if k in distributions},
                distributions={k: distributions[k] for k in values if k in distributions},
                system_attrs={"number": p.number},
                constraints=None if p.feasible else OVER_LIMIT,
            )
            for p in search_points(data, direction)
            for values in [{**p.params, **p.labels}]
        ]
    )
    return study


def _feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """Optuna's rule: every constraint ≤ 0 (a trial without constraints meets them)."""
    return all(c <= 0.0 for c in trial.constraints.values())


def infeasible(data: ReportData) -> int:
    """The sampled trials over ``objective.max_nonzero``."""
    return sum(not p.feasible for p in data.points)


def spaced(points: list[Point], n: int) -> list[Point]:
    """At most ``n`` of ``points``, evenly spaced."""
    if len(points) <= n:
        return points
    return [points[int(i * len(points) / n)] for i in range(n)]


def search_points(data: ReportData, direction: str) -> list[Point]:
    """At most ``SEARCH_TRIALS`` of the sampled trials, evenly spaced, and the best
    ``BEST_KEPT`` in the study's ``direction`` (feasible ones first)."""
    points = data.points
    if len(points) <= SEARCH_TRIALS:
        return points
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(points, key=lambda p: (not p.feasible, sign * p.value))
    keep = {id(p) for p in ranked[:BEST_KEPT]}
    keep |= {id(points[int(i * len(points) / SEARCH_TRIALS)]) for i in range(SEARCH_TRIALS)}
    return [p for p in points if id(p) in keep]


def history(study: optuna.Study) -> go.Figure:
    fig = plot_optimization_history(study)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.system_attrs["number"] for t in trials]  # the study numbers them 0..n-1
    for trace in fig.data:
        if trace.x is not None and len(trace.x) and all(isinstance(x, int) for x in trace.x):
            trace.x = [numbers[x] for x in trace.x]
    n = len(trials)
    return laid_out(fig, f"Optimization history ({counted(n, 'sampled COMPLETE trial')})")


def importances(study: optuna.Study) -> go.Figure | None:
    """The hyperparameters' importances over the study's feasible trials (PED-ANOVA counts
    every trial it is given, a constraint's or not)."""
    trials = [t for t in study.get_trials(deepcopy=False) if _feasible(t)]
    searched = {name for t in trials for name in t.params}
    if len(trials) < 3 or len(searched) < 2:
        return None
    if len(trials) < len(study.get_trials(deepcopy=False)):
        study = optuna.create_study(direction=study.direction)
        study.add_trials(trials)
    # Optuna's importances (its default evaluator, PED-ANOVA), drawn as its
    # plot_param_importances draws them: that function also copies every trial once per
    # parameter for its hover text, most of the report's build time on a large sample
    found = get_param_importances(study)
    names = list(reversed(found))
    fig = go.Figure(
        go.Bar(
            x=np.array([found[n] for n in names]),
            y=names,
            orientation="h",
            marker={"color": COMPLETE_COLOR},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    return laid_out(
        fig,
        "Parameter importances (PED-ANOVA)",
        xaxis={"title": "importance for the objective value"},
        yaxis={"title": "hyperparameter", "automargin": True},
    )


def knob_map(data: ReportData, direction: str) -> go.Figure | None:
    """λ × l1_ratio (and × dropout): the best value per cell of a grid over the sampled trials
    (the feasible ones: a trial over ``objective.max_nonzero`` is a dot, never a cell's best),
    the trials on top and the best trial starred. A grid of cells rather than Optuna's contour,
    whose grid has one row and column per trial: a few hundred trials take a browser seconds."""
    varied = [
        name
        for name in ("lambda", "l1_ratio", "dropout")
        if len({p.params[name] for p in data.points if name in p.params}) > 1
    ]
    if len(varied) < 2:
        return None
    pairs = [(a, b) for i, a in enumerate(varied) for b in varied[i + 1 :]]
    fig = make_subplots(rows=1, cols=len(pairs), horizontal_spacing=0.08)
    sign = -1.0 if direction == "maximize" else 1.0
    for col, (x, y) in enumerate(pairs, start=1):
        shown = [p for p in data.points if x in p.params and y in p.params]
        n = max(4, min(GRID, int(math.sqrt(len(shown) / 2))))
        xs = _edges([p.params[x] for p in shown], x, n)
        ys = _edges([p.params[y] for p in shown], y, n)
        cells: dict[tuple[int, int], float] = {}
        for p in (p for p in shown if p.feasible):
            key = (_cell(xs, p.params[x], x), _cell(ys, p.params[y], y))
            if key not in cells or sign * p.value < sign * cells[key]:
                cells[key] = p.value
        z = [[cells.get((i, j)) for i in range(len(xs) - 1)] for j in range(len(ys) - 1)]
        fig.add_heatmap(
            x=_centres(xs, x),
            y=_centres(ys, y),
            z=z,
            colorscale="Blues_r" if sign > 0 else "Blues",
            showscale=col == 1,
            colorbar={"title": "best value"},
            hoverongaps=False,
            row=1,
            col=col,
        )
        fig.add_scatter(
            x=np.array([p.params[x] for p in spaced(shown, KNOB_POINTS)]),
            y=np.array([p.params[y] for p in spaced(shown, KNOB_POINTS)]),
            mode="markers",
            marker={"size": 3, "color": "#444", "opacity": 0.35},
            showlegend=False,
            hoverinfo="skip",
            row=1,
            col=col,
        )
        if data.best is not None and x in data.best.params and y in data.best.params:
            fig.add_scatter(
                x=[data.best.params[x]],
                y=[data.best.params[y]],
                mode="markers",
                marker={"symbol": "star", "size": 14, "color": CHOSEN_COLOR},
                name=f"best (trial {data.best.number})",
                showlegend=col == 1,
                row=1,
                col=col,
            )
        fig.update_xaxes(title=_label(x), type="log" if x == "lambda" else None, row=1, col=col)
        fig.update_yaxes(title=_label(y), type="log" if y == "lambda" else None, row=1, col=col)
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return laid_out(fig, " × ".join(_label(n) for n in varied) + ": best value per cell")


def _edges(values: list[float], name: str, n: int) -> list[float]:
    low, high = min(values), max(values)
    if name == "lambda":
        low, high = math.log10(low), math.log10(high)
    return [low + (high - low) * i / n for i in range(n + 1)]


def _cell(edges: list[float], value: float, name: str) -> int:
    v = math.log10(value) if name == "lambda" else value
    width = (edges[-1] - edges[0]) / (len(edges) - 1) or 1.0
    return max(0, min(len(edges) - 2, int((v - edges[0]) / width)))


def _centres(edges: list[float], name: str) -> list[float]:
    mids = [(a + b) / 2 for a, b in pairwise(edges)]
    return [10**m for m in mids] if name == "lambda" else mids


def _label(name: str) -> str:
    return "λ" if name == "lambda" else name


WEIGHT_AXIS = "weight (per standard deviation of the input)"
NORM_AXIS = "norm of the input's weights over the classes (per standard deviation of the input)"
"""A multiclass model's per-input number: its classes' weights' norm, never negative."""


LABEL_CHARS = 24
"""Characters of an input's name that label a line or a bar, at most (its hover text is the
whole name): a legend is as wide as its longest entry, and takes that width from the plot."""
LABEL_END = 8
"""Characters a shortened name keeps of its end (a suffix often tells inputs apart)."""


def plotly_text(text: str) -> str:
    """``text`` as plotly shows it, literally: plotly reads its strings as HTML-like markup
    (``<b>``, ``<br>``, entities), so ``&``, ``<`` and ``>`` go as entities."""
    return html.escape(text, quote=False)


def labels(names: Sequence[str]) -> list[str]:
    """Each name as it labels a line or a bar: at most ``LABEL_CHARS`` characters (its start,
    "…", its end), a name shortened as another was numbered (``~2``) so that no two are the
    same, and escaped for plotly."""
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        short = name
        if len(name) > LABEL_CHARS:
            short = f"{name[: LABEL_CHARS - LABEL_END - 1]}…{name[-LABEL_END:]}"
        label, n = short, 1
        while label in used:
            n += 1
            label = f"{short[: LABEL_CHARS - len(f'~{n}')]}~{n}"
        used.add(label)
        out.append(label)
    return [plotly_text(label) for label in out]


def sparsity_varies(data: ReportData) -> bool:
    """Whether the trials differ in their non-zero weights: not when no weight reached zero in
    any of them (an MLP under pure L2), where a plot against them is one column of points."""
    counts = {nz for nz, _ in data.front}
    counts |= {p.n_nonzero for p in data.points if p.n_nonzero is not None}
    return len(counts) > 1


def loss_vs_sparsity(data: ReportData, metric: str) -> go.Figure | None:
    shown = [p for p in data.points if p.n_nonzero is not None]
    if not shown or not sparsity_varies(data):
        return None
    fig = go.Figure()
    fig.add_scatter(
        x=np.array([p.n_nonzero for p in shown]),
        y=np.array([p.value for p in shown]),
        mode="markers",
        name="trials (sample)",
        marker={"color": COMPLETE_COLOR, "opacity": 0.3, "size": 5},
    )
    if data.front:
        fig.add_scatter(
            x=[nz for nz, _ in data.front],
            y=[v for _, v in data.front],
            mode="lines+markers",
            line_shape="hv",
            name="Pareto front (every trial)",
            line={"color": PRUNED_COLOR},
        )
    return laid_out(
        fig,
        f"{metric} against non-zero weights",
        xaxis={"title": "non-zero weights"},
        yaxis={"title": metric},
    )


FEW_STEPS = 10
"""Curves of at most this many steps are ticked at every step (plotly's own ticks fall between
whole steps: 0.5, 1.5 for curves of one)."""


def learning_curves(data: ReportData, metric: str, *, unit: str = "epoch") -> go.Figure | None:
    """A sample of trials' curves by ``unit``, the step the solver reports (an epoch, or the
    exact solver's block of iterations), complete against pruned; of a study of several
    objectives, its trials' ``val_curve`` (Optuna prunes none of its trials)."""
    if not any(data.curves.get(s) for s in ("COMPLETE", "PRUNED")):
        return None
    fig = go.Figure()
    for state, color in (("COMPLETE", COMPLETE_COLOR), ("PRUNED", PRUNED_COLOR)):
        for i, (number, curve) in enumerate(sorted(data.curves.get(state, {}).items())):
            fig.add_scatter(
                x=[s for s, _ in curve],
                y=[v for _, v in curve],
                mode="lines+markers",  # a curve of one report is a point
                marker={"size": 4},
                name=state.lower(),
                legendgroup=state,
                showlegend=i == 0,
                line={"color": color, "width": 1},
                hovertext=f"trial {number}",
            )
    which = "complete trials" if data.several else "complete against pruned trials"
    title = f"Learning curves: {which} (a sample), {metric} per {unit}"
    steps = [s for curves in data.curves.values() for c in curves.values() for s, _ in c]
    axis: dict[str, Any] = {"title": unit}
    if steps and max(steps) <= FEW_STEPS:
        axis["dtick"] = 1
    return laid_out(fig, title, xaxis=axis, yaxis={"title": metric})


def coefficients(names: list[str], weights: list[float], *, classes: int = 1) -> go.Figure | None:
    """The saved model's non-zero weights by input; of a model of several ``classes``, each
    input's norm over their weights (what ``ModelFacts.weights`` holds)."""
    kept = [(n, w) for n, w in zip(names, weights, strict=False) if w != 0.0]
    if not kept:
        return None
    kept.sort(key=lambda nw: abs(nw[1]))
    fig = go.Figure(
        go.Bar(
            x=[w for _, w in kept],
            y=labels([n for n, _ in kept]),
            orientation="h",
            hovertext=[plotly_text(n) for n, _ in kept],
            hoverinfo="x+text",
        )
    )
    what = (
        f"each input's norm over the {classes} classes' weights"
        if classes > 1
        else "non-zero coefficients"
    )
    return laid_out(
        fig,
        f"Best model: {what} ({len(kept)} of {counted(len(names), 'input')}, standardized)",
        height=max(300, 22 * len(kept) + 120),
        xaxis={
            "title": NORM_AXIS
            if classes > 1
            else "coefficient (per standard deviation of the input)"
        },
    )
