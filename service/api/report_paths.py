"""The study report's figures of the regularization path: the λ each choice marks (the best,
glmnet's one-standard-error rule, the saved model's), the validation curve ± 1 SE over λ bins,
the sparsity path and the coefficient path of the best trial's other knobs. The search's figures,
the learning curves and the saved model's coefficients are ``report_figures``'.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from regtune.service.api.report_figures import (
    CHOSEN_COLOR,
    COMPLETE_COLOR,
    NORM_AXIS,
    PALETTE,
    PRUNED_COLOR,
    WEIGHT_AXIS,
    labels,
    laid_out,
    plotly_text,
    sparsity_varies,
)
from regtune.service.store.trials.report import Point, ReportData

LAMBDA_BINS = 20


@dataclass
class Chosen:
    """The λ the report marks: the best trial's, glmnet's one-standard-error choice, and the
    saved model's when its refit raised λ to keep ``objective.max_nonzero``."""

    best: float | None
    one_se: float | None
    model: float | None = None
    chose: bool = False
    """The one-SE λ is the study's choice (``select: one_se``), not the bins' estimate."""


def _bins(points: list[Point]) -> list[tuple[float, float, float, int, float]]:
    """(λ at the bin's centre, mean value, standard error, trials, the largest λ of its trials)
    over log-spaced λ bins.

    The standard error is the folds' (their mean over the bin's trials) when every trial has
    one, as glmnet's ``cvsd``; otherwise the spread of the bin's trials around their mean.
    """
    lams = [p.params["lambda"] for p in points if p.params.get("lambda", 0) > 0]
    if len(lams) < 2 or min(lams) == max(lams):
        return []
    low, high = math.log10(min(lams)), math.log10(max(lams))
    width = (high - low) / LAMBDA_BINS
    groups: dict[int, list[Point]] = {}
    for p in points:
        lam = p.params.get("lambda", 0)
        if lam > 0:
            i = min(LAMBDA_BINS - 1, int((math.log10(lam) - low) / width))
            groups.setdefault(i, []).append(p)
    folds = folds_known(points)
    out = []
    for i in sorted(groups):
        values = [p.value for p in groups[i]]
        if folds:
            se = statistics.fmean(p.fold_se or 0.0 for p in groups[i])
        else:
            se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        top = max(p.params["lambda"] for p in groups[i])
        out.append(
            (10 ** (low + (i + 0.5) * width), statistics.fmean(values), se, len(values), top)
        )
    return out


def folds_known(points: list[Point]) -> bool:
    return bool(points) and all(p.fold_se is not None for p in points)


def chosen_lambda(data: ReportData, direction: str) -> Chosen:
    """The best λ and the one-SE λ. Under ``objective.select: one_se`` they are the study's:
    the λ of the trial the rule measured from (glmnet's ``lambda.min``) and the chosen trial's
    (``lambda.1se``). Otherwise the best trial's λ, and the largest λ of the trials in the
    largest-λ bin whose mean is within one standard error of the best bin's (the sparsest model
    about as good as the best). A trial's own λ, not its bin's centre: the best trial's bin
    qualifies, so the one-SE λ is never below the best trial's when it lies in that bin."""
    best = data.best
    if data.one_se_from is not None and best is not None:
        lam = data.one_se_from.params.get("lambda")
        return Chosen(lam, best.params.get("lambda"), chose=True)
    lam = best.params.get("lambda") if best is not None else None
    bins = _bins(data.band)
    if not bins:
        return Chosen(lam, None)
    sign = -1.0 if direction == "maximize" else 1.0
    top = min(bins, key=lambda b: sign * b[1])
    limit = sign * top[1] + top[2]
    one_se = max((b for b in bins if sign * b[1] <= limit), key=lambda b: b[0])[4]
    if lam is not None and one_se < lam:  # the best trial lies above every bin within one SE
        one_se = lam  # of the best: as glmnet's lambda.1se is never below lambda.min
    return Chosen(lam, one_se)


LABEL_ROW = 16
"""Pixels between the rows of the chosen λs' labels."""


def _mark(fig: go.Figure, chosen: Chosen, lams: Sequence[float]) -> None:
    """The chosen λs as vertical lines on a log-λ axis over ``lams`` (the λs drawn), each
    labelled in a row of its own at the top of the plot, so that two λs close together keep
    their labels apart; a label reads away from the nearer end of the axis, so that it stays
    in the plot. A line takes λ itself, a label log10(λ) (plotly places annotations on a log
    axis by the exponent, so ``add_vline``'s own label would sit at 10**λ and stretch the
    axis)."""
    marks = _marks(chosen)
    logs = [math.log10(lam) for lam in [*lams, *(m[0] for m in marks)] if lam > 0]
    if not logs:
        return
    low, high = min(logs), max(logs)
    for row, (lam, text, dash, color) in enumerate(marks):
        fig.add_vline(x=lam, line_dash=dash, line_color=color)
        right = (math.log10(lam) - low) > (high - low) / 2
        fig.add_annotation(
            x=math.log10(lam),
            xref="x",
            y=1.0,
            yref="y domain",
            yshift=-LABEL_ROW * row,
            text=text,
            showarrow=False,
            xanchor="right" if right else "left",
            yanchor="top",
            bgcolor="rgba(255, 255, 255, 0.8)",
            font={"size": 11, "color": color},
        )


def _marks(chosen: Chosen) -> list[tuple[float, str, str, str]]:
    """(λ, label, dash, colour) of each chosen λ there is."""
    out = []
    if chosen.best is not None and chosen.best > 0:
        out.append((chosen.best, f"best λ={chosen.best:.3g}", "solid", CHOSEN_COLOR))
    if chosen.one_se is not None and chosen.one_se > 0:
        label = f"one-SE λ{'=' if chosen.chose else '≈'}{chosen.one_se:.3g}"
        out.append((chosen.one_se, label, "dash", "#7f7f7f"))
    if chosen.model is not None and chosen.model > 0:
        out.append((chosen.model, f"saved model λ={chosen.model:.3g}", "dot", PRUNED_COLOR))
    return out


def _band_label(data: ReportData) -> str:
    if data.band_l1 is None:
        return ""
    return f" at l1_ratio ∈ [{data.band_l1[0]:.2f}, {data.band_l1[1]:.2f}]"


def validation_curve(data: ReportData, metric: str, chosen: Chosen) -> go.Figure | None:
    bins = _bins(data.band)
    if not bins:
        return None
    fig = go.Figure()
    lams = [p.params["lambda"] for p in data.band if "lambda" in p.params]
    fig.add_scatter(
        x=np.array(lams),
        y=np.array([p.value for p in data.band if "lambda" in p.params]),
        mode="markers",
        name="trials",
        marker={"color": COMPLETE_COLOR, "opacity": 0.25, "size": 5},
    )
    fig.add_scatter(
        x=[b[0] for b in bins],
        y=[b[1] for b in bins],
        error_y={"type": "data", "array": [b[2] for b in bins], "visible": True},
        mode="lines+markers",
        name="mean ± 1 SE " + ("across folds" if folds_known(data.band) else "of the bin's trials"),
        line={"color": "#ff7f0e"},
    )
    _mark(fig, chosen, lams)
    return laid_out(
        fig,
        f"Validation curve: {metric} against λ{_band_label(data)}",
        xaxis={"type": "log", "title": "λ (lambda)"},
        yaxis={"title": metric},
    )


def sparsity_path(data: ReportData, chosen: Chosen) -> go.Figure | None:
    """Non-zero weights against λ (log), the chosen λ marked: the path's shape when per-trial
    coefficients are not stored (the best model's are drawn by ``coefficients``)."""
    shown = [p for p in data.band if "lambda" in p.params and p.n_nonzero is not None]
    if len(shown) < 2 or not sparsity_varies(data):
        return None
    fig = go.Figure()
    fig.add_scatter(
        x=np.array([p.params["lambda"] for p in shown]),
        y=np.array([p.n_nonzero for p in shown]),
        mode="markers",
        name="trials",
        marker={
            "color": np.array([p.value for p in shown]),
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": "value"},
        },
        text=[f"trial {p.number}: value {p.value:.4g}" for p in shown],
    )
    _mark(fig, chosen, [p.params["lambda"] for p in shown])
    return laid_out(
        fig,
        f"Non-zero weights against λ{_band_label(data)}",
        xaxis={"type": "log", "title": "λ (lambda)"},
        yaxis={"title": "non-zero weights"},
    )


PATH_BINS = 40
"""Log-λ bins of the coefficient path: one trial drawn per bin."""
PATH_SHARED = ("l1_ratio", "relax")
"""The knobs a coefficient path holds fixed (a λ path's points share them exactly)."""
PATH_INPUTS = 20
"""Inputs drawn on the coefficient path, at most (the largest at the chosen λ first)."""


def path_trials(data: ReportData, direction: str) -> list[Point]:
    """The coefficient path's trials, from large λ to small: per log-λ bin of the band, the
    trial whose l1_ratio and relax are nearest the best trial's (the path at the best
    l1_ratio and relax; a regularization path's own points share them exactly), and the best
    trial itself."""
    shown = [p for p in data.band if p.coefficients is not None and p.params.get("lambda", 0) > 0]
    if len(shown) < 2:
        return []
    best = data.best
    target = best.params if best is not None else None
    logs = [math.log10(p.params["lambda"]) for p in shown]
    low, high = min(logs), max(logs)
    width = (high - low) / PATH_BINS or 1.0
    chosen: dict[int, Point] = {}

    def key(p: Point) -> tuple[float, float]:
        gap = 0.0
        if target is not None:
            gap = sum(abs(p.params.get(k, 0.0) - target.get(k, 0.0)) for k in PATH_SHARED)
        return gap, -p.value if direction == "maximize" else p.value

    for p, at in zip(shown, logs, strict=True):
        i = min(PATH_BINS - 1, int((at - low) / width))
        if i not in chosen or key(p) < key(chosen[i]):
            chosen[i] = p
    path = {p.number: p for p in chosen.values()}
    if best is not None and best.coefficients is not None and "lambda" in best.params:
        path = {n: p for n, p in path.items() if p.params["lambda"] != best.params["lambda"]}
        path[best.number] = best
    return sorted(path.values(), key=lambda p: -p.params["lambda"])


def entries(path: list[Point]) -> list[tuple[str, float]]:
    """Each input with the first λ, from large to small, at which its weight is non-zero."""
    found: dict[str, float] = {}
    for p in path:
        for name, weight in (p.coefficients or {}).items():
            if weight != 0.0 and name not in found:
                found[name] = p.params["lambda"]
    return sorted(found.items(), key=lambda nl: -nl[1])


def coefficient_path(
    data: ReportData, chosen: Chosen, direction: str, *, norm: bool = False
) -> go.Figure | None:
    """Each input's weight against λ (log) at the best l1_ratio (and relax), where it enters
    marked, the chosen λ marked: glmnet's ``plot(fit)``, from the trials' stored coefficients.
    ``norm``: a multiclass study, whose trials stored each input's norm over the classes."""
    path = path_trials(data, direction)
    if len(path) < 2:
        return None
    entered = dict(entries(path))
    at_best = (data.best.coefficients or {}) if data.best is not None else {}
    names = sorted(entered, key=lambda n: (-abs(at_best.get(n, 0.0)), -entered[n]))
    fig = go.Figure()
    lams = np.array([p.params["lambda"] for p in path])
    drawn = names[:PATH_INPUTS]
    for i, (name, label) in enumerate(zip(drawn, labels(drawn), strict=True)):
        weights = np.array([(p.coefficients or {}).get(name, 0.0) for p in path])
        color = PALETTE[i % len(PALETTE)]
        fig.add_scatter(
            x=lams,
            y=weights,
            mode="lines",
            name=label,
            legendgroup=str(i),
            line={"color": color, "width": 1.5},
            hovertext=plotly_text(name),
            hoverinfo="x+y+text",
        )
        fig.add_scatter(
            x=[entered[name]],
            y=[weights[int(np.argmax(lams <= entered[name]))]],
            mode="markers",
            legendgroup=str(i),
            showlegend=False,
            marker={"color": color, "size": 9, "symbol": "circle-open", "line": {"width": 2}},
            hovertext=plotly_text(f"{name} enters at λ={entered[name]:.3g}"),
            hoverinfo="text",
        )
    _mark(fig, chosen, lams.tolist())
    shown = min(len(names), PATH_INPUTS)
    return laid_out(
        fig,
        f"Coefficient path{_band_label(data)}"
        + (f" ({shown} of {len(names)} inputs)" if shown < len(names) else ""),
        xaxis={"type": "log", "title": "λ (lambda)"},
        yaxis={"title": NORM_AXIS if norm else WEIGHT_AXIS},
    )
