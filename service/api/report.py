"""``GET /v1/studies/{id}/report``: one self-contained HTML page telling a study's
regularization story (plotly's JavaScript inlined, so the page and a saved copy work offline).

The data comes from ``regtune.service.store.trials.report`` (counts, samples and SQL aggregates,
never every trial); the figures from ``regtune.service.api.report_figures``, the notes and
numbers' wording from ``regtune.service.api.report_words``; the best model's
coefficients from its safetensors file, read with numpy (the API never imports torch).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jinja2
import numpy as np
import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from optuna.artifacts.exceptions import ArtifactNotFound
from safetensors.numpy import load as load_tensors

from regtune.service.api import report_assets as assets
from regtune.service.api import report_figures as figures
from regtune.service.api import report_paths as paths
from regtune.service.api import report_words as words
from regtune.service.api.deps import CallerDep, StudyDep
from regtune.service.api.schemas.best import BestModel
from regtune.service.api.study_end import error_of, study_end, trial_errors
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import ACTIVE, Task
from regtune.service.spec.objective import objective_directions, objective_names
from regtune.service.spec.points import POINT_ATTR
from regtune.service.store.reads import at_once, read
from regtune.service.store.repos import best_model, model_files, studies
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials.best import pareto_numbers
from regtune.service.store.trials.curves import Reported
from regtune.service.store.trials.report import (
    BEST_KEPT,
    ReportData,
    report_data,
    silent_trials,
    sparsity_front,
)
from regtune.service.store.trials.views import TrialView, get_trial, list_trials, reported_steps

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["studies"])
REFRESH_SECONDS = 10
"""How often the page reloads itself while the study is queued or running."""
MAX_POINTS = 1000
"""COMPLETE trials sampled for the scatter plots (the λ band adds half as many): a browser draws
every point as an SVG node, and past about a thousand a scatter's drawing is what a reader
waits for, not what they learn from."""
STAMP = "%Y-%m-%d %H:%M:%S UTC"
MAX_MODEL_BYTES = 16 << 20
"""A linear model's file is read whole for its coefficients; larger files are not."""


@router.get(
    "/studies/{study_id}/report",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "the report, one HTML page"},
        404: {  # an error is JSON, whatever the route's own media type
            "description": "no such study for this key",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
            },
        },
    },
    summary="The study report: one self-contained HTML page of plots (updates while it runs)",
)
def study_report(study: StudyDep, who: CallerDep, request: Request) -> HTMLResponse:
    base_url = str(request.base_url).rstrip("/")
    keys = who.admin or who.key_id is not None  # keys on: every caller holds one
    html = build(study, base_url=base_url, keys=keys)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@dataclass
class Section:
    title: str
    figures: list[Markup]
    note: str = ""


FRONT_ROWS = 50
"""Pareto-front trials listed on the page (the API and ``regtune show`` list more)."""


@dataclass
class Front:
    """A multi-objective study's Pareto front: its first ``FRONT_ROWS`` trials, and its size."""

    trials: list[TrialView] = field(default_factory=list)
    size: int = 0


@dataclass
class Page:
    sections: list[Section] = field(default_factory=list)

    def add(self, title: str, figs: list[go.Figure | None], note: str = "") -> None:
        first = sum(len(section.figures) for section in self.sections)
        drawn = (f for f in figs if f is not None)
        shown = [assets.plot_div(f, number=first + i) for i, f in enumerate(drawn)]
        if shown:
            self.sections.append(Section(title, shown, note))


def _step_unit(spec: StudySpec) -> str:
    """What one step of a trial's curve is: an epoch, or the exact solver's block of
    ``training.report_every`` iterations."""
    return "epoch" if spec.solver == "minibatch" else "block of iterations"


def build(row: StudyRow, *, base_url: str, keys: bool = True) -> str:
    """The report of one study as HTML; ``keys``: whether the API needs a key, so that the
    page's curl line sends one."""
    spec = StudySpec.from_stored(row.spec)
    directions = objective_directions(spec)
    direction = directions[0]
    metric = objective_names(spec)[0]
    osid = row.optuna_study_id

    def reads(
        session: Any,
    ) -> tuple[ReportData, TrialView | None, dict[str, Any] | None, Front]:
        data = report_data(
            session,
            osid or -1,
            direction=direction,
            max_points=MAX_POINTS,
            front=False,
            select=spec.objective.select,
            relax_margin=spec.objective.relax_margin,
            several=len(directions) > 1,
        )
        view = get_trial(session, osid or -1, data.best.number) if data.best else None
        front = Front()
        if len(directions) > 1:
            numbers = pareto_numbers(session, osid or -1, directions)
            front = Front(
                list_trials(session, osid or -1, numbers=numbers[:FRONT_ROWS], limit=FRONT_ROWS),
                len(numbers),
            )
        return data, view, best_model.read_info(session, osid or -1), front

    def aside(session: Any) -> tuple[list[tuple[float, float]], dict[str, Reported], int]:
        front = sparsity_front(session, osid or -1, direction=direction)
        key, ended = studies.index_key(row), studies.quiet(row)
        reported = reported_steps(session, osid or -1, key=key, quiet=ended)
        return front, reported, silent_trials(session, osid or -1)

    # the front's GROUP BY reads every trial, and the trial index counts the steps of those
    # finished since it last did: on their own connection, beside the samples; the rest in one
    # snapshot, so that a trial finishing meanwhile is in all of it or none
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-front") as pool:
        whole = pool.submit(read, aside)
        data, view, model, pareto = read(lambda session: at_once(session, reads))
        data.front, data.reported, data.silent = whole.result()
    page = Page()
    study = figures.search_study(data, direction)
    if study is not None:
        page.add(
            "The search",
            [
                figures.history(study),
                figures.importances(study),
            ],
            words.infeasible_search(data),
        )
    cells = figures.knob_map(data, direction)
    page.add("Where the search looked", [cells], words.infeasible_cells(data))
    chosen = paths.chosen_lambda(data, direction)
    chosen.model = (model or {}).get("refit_lambda")
    multiclass = spec.task == Task.MULTICLASS  # a trial stored each input's norm over classes
    path = paths.coefficient_path(data, chosen, direction, norm=multiclass)
    sparsity = paths.sparsity_path(data, chosen) if path is None else None
    curve = paths.validation_curve(data, metric, chosen)
    page.add(
        "Regularization path",
        [path or sparsity, curve],
        _lines_note(data) + (words.entry_note(data, direction) if path is not None else ""),
    )
    path_notes = words.path_notes(
        data,
        coefficients=path is not None,
        sparsity=sparsity is not None,
        curve=curve is not None,
        multiclass=multiclass,
        saved=bool(model),
    )
    page.add(f"{metric} against sparsity", [figures.loss_vs_sparsity(data, metric)])
    stopped = words.stopped_early(data, spec.training.max_epochs)
    page.add(
        "Learning curves",
        [figures.learning_curves(data, metric, unit=_step_unit(spec))],
        " ".join(n for n in (words.saved_steps(data), stopped and f"{stopped}.") if n),
    )
    linear = spec.model.kind == "linear"
    facts = (
        model_facts(model["artifact_id"], linear=linear, optuna_study_id=osid or -1)
        if model
        else ModelFacts()
    )
    if facts.weights is not None:
        names, weights = list(facts.feature_names), list(facts.weights)
        coefficients = figures.coefficients(names, weights, classes=facts.classes)
        page.add("Best model coefficients", [coefficients])
    return _render(
        row,
        spec,
        data,
        view,
        model,
        page,
        base_url=base_url,
        keys=keys,
        metric=metric,
        path_notes=path_notes,
        pareto=pareto,
        stopped=stopped,
    )


def _lines_note(data: ReportData) -> str:
    """What the regularization path's vertical lines mark (``paths.chosen_lambda``)."""
    if data.one_se_from is not None and data.best is not None:
        start = (
            "the best value"
            if data.relaxed_best is None
            else f"the best unrelaxed trial, which objective.relax_margin kept in place of "
            f"relaxed trial #{data.relaxed_best}, the best value"
        )
        return (
            f"Solid line: the λ of trial #{data.one_se_from.number}, {start} "
            f"(glmnet's lambda.min); dashed: the λ of trial #{data.best.number}, the study's "
            "choice under objective.select: one_se, the largest λ along that trial's λ path "
            "whose value is within one standard error of its (glmnet's lambda.1se)."
        )
    return ("Solid line: the best trial's λ; dashed" if data.best is not None else "Dashed") + (
        ": the largest λ of the trials in the largest-λ bin whose mean is within one "
        "standard error of the best λ bin's (glmnet's lambda.1se)."
    )


def warm(row: StudyRow) -> None:
    """Build ``row``'s report once and drop it, before the process serves: a process's first
    build pays what later ones do not (plotly's validators and Optuna's plots' code paths, the
    page's template and assets, the reads' compiled statements): about 1.6 times a later one."""
    build(row, base_url="")


@dataclass(frozen=True)
class ModelFacts:
    """What the report shows of a saved model file."""

    feature_names: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    """A linear model's weight per input on standardized inputs (averaged over its fold models;
    the norm over classes for a multiclass model)."""
    classes: int = 1
    """The linear model's outputs: the classes of a multiclass model, whose ``weights`` are
    norms; 1 otherwise (signed weights)."""


def model_facts(artifact_id: str, *, linear: bool, optuna_study_id: int) -> ModelFacts:
    """What the report shows of the model file; nothing if this process cannot read it (not in
    its artifact store, or not a model file): the page goes without, a later one tries again.
    A file the study's record no longer names (the study deleted, or a newer model saved,
    since the page read it) was removed, not written elsewhere: no warning then."""
    try:
        return _model_facts(artifact_id, linear=linear)
    except ArtifactNotFound:
        if _recorded(optuna_study_id, artifact_id):
            log.warning(
                "the model file %s is not in this process's artifact store: the API and the "
                "workers must share one",
                artifact_id,
            )
        else:
            log.debug("the model file %s was removed while the report was built", artifact_id)
    except (OSError, KeyError, ValueError, IndexError, AttributeError) as exc:
        log.warning("cannot read the model file %s: %s", artifact_id, type(exc).__name__)
    return ModelFacts()


def _recorded(optuna_study_id: int, artifact_id: str) -> bool:
    """Whether the study's best-model record still names ``artifact_id``."""
    info = read(lambda session: best_model.read_info(session, optuna_study_id))
    return info is not None and info.get("artifact_id") == artifact_id


@lru_cache(maxsize=256)
def _model_facts(artifact_id: str, *, linear: bool) -> ModelFacts:
    """Read once per process (a saved file never changes; a failed read is not kept): the header
    always, the tensors of a linear model of at most ``MAX_MODEL_BYTES``."""
    with model_files.open_artifact(artifact_id) as reader:
        head = reader.read(8)
        size = int.from_bytes(head, "little")
        header = reader.read(size)
        body = reader.read(MAX_MODEL_BYTES + 1) if linear else b""
    meta: dict[str, str] = dict(json.loads(header).get("__metadata__") or {})
    names = tuple(str(n) for n in json.loads(meta.get("feature_names", "[]")))
    weights, classes = None, 1
    if linear and len(body) <= MAX_MODEL_BYTES:
        tensors = load_tensors(head + header + body)
        members = [t for k, t in sorted(tensors.items()) if k.endswith(".1.weight")]
        if members:
            weight = np.mean([np.asarray(m, dtype=np.float64) for m in members], axis=0)
            classes = int(weight.shape[0])
            per_input = weight[0] if classes == 1 else np.linalg.norm(weight, axis=0)
            weights = tuple(float(w) for w in per_input)
    return ModelFacts(names, weights, classes)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("regtune.service.api", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2")


def _render(
    row: StudyRow,
    spec: StudySpec,
    data: ReportData,
    view: TrialView | None,
    model: dict[str, Any] | None,
    page: Page,
    *,
    base_url: str,
    keys: bool,
    metric: str,
    path_notes: str,
    pareto: Front,
    stopped: str,
) -> str:
    """The page; ``path_notes``: the notes on the regularization path's figures drawn;
    ``stopped``: how many COMPLETE trials early stopping ended, in the words the learning
    curves' note says it in too."""
    trial_test = (
        {k.removeprefix("test_"): v for k, v in view.user_attrs.items() if k.startswith("test_")}
        if view
        else {}
    )
    model_test = (model or {}).get("test_metrics") or {}
    baseline_name, baseline = words.baseline(spec.task, model)
    metrics = [
        (
            name,
            words.number(trial_test.get(name)),
            words.number(model_test.get(name)),
            words.number(baseline.get(name)),
        )
        for name in sorted(set(trial_test) | set(model_test))
        if words.number(trial_test.get(name)) != "—" or words.number(model_test.get(name)) != "—"
    ]
    best = None
    if view is not None and view.value is not None:
        best = {
            "number": view.number,
            "value": view.value,
            "params": {k: v for k, v in view.params.items() if isinstance(v, int | float | str)},
            "n_nonzero": words.number(view.user_attrs.get("n_nonzero"), missing=None),
            "point": view.user_attrs.get(POINT_ATTR),  # one of sampler.points_to_evaluate
        }
    model_note = "The best trial's models were trained on its training rows; " + words.saved_words(
        model, row.status
    )
    if model:
        model_note += " The baseline ignores the inputs: " + (
            "the training rows' mean."
            if spec.task == "regression"
            else "the training rows' class frequencies (its guess: the majority class)."
        )
    return _template().render(
        study=row,
        end=study_end(row, failures=data.failures),
        error=error_of(row),
        trial_errors=trial_errors(row, failures=data.failures),
        counts={k: v for k, v in data.counts.items()},
        done=data.counts.get("COMPLETE", 0) + data.counts.get("PRUNED", 0),
        stopped_early=stopped,
        model_kind=spec.model.kind,
        metric=metric,
        direction=objective_directions(spec)[0],
        objectives=list(zip(objective_names(spec), objective_directions(spec), strict=True)),
        front=[
            (t.number, [words.number(v) for v in t.values or []], words.params(t.params))
            for t in pareto.trials
        ],
        front_size=pareto.size,
        # a page that reloads itself says when it was built, so that one no longer reloaded
        # looks its age; an ended study's page says when it ended, and is the same bytes at
        # every build until the study changes
        built_at=datetime.now(UTC).strftime(STAMP),
        ended_at=row.finished_at.strftime(STAMP) if row.finished_at else None,
        live=row.status in ACTIVE,
        refresh_s=REFRESH_SECONDS,
        figures=bool(page.sections),
        empty=words.empty(
            row.status,
            complete=data.counts.get("COMPLETE", 0),
            pruned=data.counts.get("PRUNED", 0),
        ),
        sections=page.sections,
        best=best,
        selection=data.selection,
        metrics=metrics,
        test_split=spec.validation.test_split,
        folds=spec.validation.folds,
        baseline_name=baseline_name,
        model_note=model_note,
        model=BestModel.model_validate(model) if model else None,
        unsaved=words.unsaved(row.status, finished=sum(data.counts.values()))
        if not model
        else None,
        base_url=base_url,
        keys=keys,
        n_points=len(data.points),
        best_kept=BEST_KEPT,
        path_notes=path_notes,
        plotly_js=assets.plotly_js(),
        template_json=assets.template_json(),
        config_json=assets.config_json(),
    )
