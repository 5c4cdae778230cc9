"""What a study found, in lines: ``show``'s summary (status, counts, best trial, Pareto front,
saved model), ``best``'s trial, and the words for a study without a test split."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from regtune.service.api.schemas.best import BestTrial
from regtune.service.api.schemas.studies import StudyOut
from regtune.service.cli.output import console, fmt, params, print_table, sorted_by_name
from regtune.service.client.best_model import no_model
from regtune.service.spec.enums import FINAL
from regtune.service.spec.points import POINT_ATTR
from regtune.service.spec.validation import Validation

NO_TEST_SPLIT = (
    "none (validation.test_fraction 0: every row validates in the folds, and the validation "
    "score above is the estimate)"
)
NO_TEST_SPLIT_HOLDOUT = (
    "none (validation.test_fraction 0: the holdout's score above chose the best trial, so it "
    "is optimistic; give validation.test_fraction for an estimate)"
)


def _validation(study: StudyOut) -> Validation:
    return Validation.model_validate(study.definition.get("validation") or {})


def _test_split(study: StudyOut) -> bool:
    """Whether the study holds out a test split (``validation.test_fraction`` above 0)."""
    return _validation(study).test_split


def _saved_label(study: StudyOut) -> str:
    """The saved model's test line: a refit's, or the best trial's own models retrained, which
    are no refit: under ``refit: false``, or when the refit was refused (``best_model.note``
    says why), so what was saved decides, not the definition."""
    model = study.best_model
    refit = model.refit if model is not None else study.definition.get("refit", True)
    return "test (refit model):" if refit else "test (saved model):"


def _no_test_split(study: StudyOut) -> str:
    """What stands in for a test metric: the folds' score, every row validated once; not a
    holdout's, which chose the best trial."""
    return NO_TEST_SPLIT if _validation(study).folds else NO_TEST_SPLIT_HOLDOUT


def print_warnings(study: StudyOut, where: Console) -> None:
    """The definition's warnings (``StudyOut.warnings``), one yellow line each."""
    for warning in study.warnings:
        where.print(Text.assemble(("warning: ", "bold yellow"), (warning, "yellow")))


def print_summary(study: StudyOut, *, warnings: bool = True, whose: bool = False) -> None:
    """``whose``: name the study's tenant (to the admin key, which reaches every tenant's)."""
    from regtune.service.client.watch import stop_text

    p = study.progress
    tenant = f"tenant {study.tenant}  " if whose else ""
    console.print(
        f"[bold]{study.name}[/bold] {study.id}  {tenant}status {study.status}  "
        f"{p.done}/{p.n_trials} done"
    )
    if warnings:
        print_warnings(study, console)
    counts = ", ".join(f"{k} {v}" for k, v in study.counts.items() if v) or "none"
    if study.stopped_early:  # COMPLETE, as PRUNED are counted: ended before max_epochs too
        counts += f"; {study.stopped_early} of the COMPLETE stopped early (early_stopping)"
    console.print("counts: " + counts)
    if study.end:
        console.print(Text(f"ended: {study.end.message}"))
    elif stop := stop_text(study):
        console.print(Text(f"stop rule: {stop}"))
    if study.trial_errors:  # a trial's, not the study's: it goes on
        console.print(Text(study.trial_errors.message))
    if study.error:
        console.print(Text.assemble(("error: ", "red"), study.error))
    if study.validation:
        v = study.validation
        console.print(Text(f"validation: {v.scheme} ({v.chosen_by})"))
    s = study.selection
    if s and (s.rule != "best" or s.note):  # one_se, or the relax margin kept another trial
        how = "selection" if s.rule == "best" else f"selection by {s.rule}"
        console.print(Text(how + (f": {s.note}" if s.note else "")))
    best = study.best_trial
    if best:
        which, value = _best_value(study, best, front="the whole front below")
        said = [f"{value}", f"non-zero {fmt(best.n_nonzero)}", params(best.params)]
        number = numbered(best.number, best.user_attrs)
        # nothing searched (every knob fixed): no parameters, and no comma before them
        console.print(Text(f"best trial #{number}{which}: " + ", ".join(filter(None, said))))
        if best.test_metrics:
            console.print(
                Text(f"  test (trial):       {params(sorted_by_name(best.test_metrics))}")
            )
        if best.refit_test_metrics:
            refit = sorted_by_name(best.refit_test_metrics)
            console.print(Text(f"  {_saved_label(study)} {params(refit)}"))
        if not _test_split(study):
            console.print(Text(f"  test: {_no_test_split(study)}"))
    front = study.pareto_front
    if front:
        names = study.definition.get("objectives") or []
        inputs = [] if "n_inputs" in names else ["n_inputs"]  # an objective is shown once
        table = Table("trial", *names, *inputs, "params", title="Pareto front")
        for t in front:
            table.add_row(
                str(t.number),
                *(fmt(v) for v in t.values or []),
                *(fmt(t.user_attrs.get(name)) for name in inputs),
                params(t.params),
            )
        print_table(table)
    model = study.best_model
    if not model and best and study.status in FINAL:
        why = "the error above says why" if study.error else no_model(study)
        console.print(Text(f"best model: none; {why}"))
    if model:
        rows = ""
        if model.train_rows is not None and model.refit and not _test_split(study):
            rows = f", trained on every row ({model.train_rows:,}; no test split)"
        elif model.member_rows is not None and len(model.member_rows) > 1:
            rows = _fold_models(model.member_rows)
        elif model.train_rows is not None:
            rows = f", trained on {model.train_rows:,} rows"
            rows += ", the test rows too" if model.refit_rows == "all" else ""
        console.print(
            f"best model: {model.filename} ({model.bytes} bytes, trial {model.trial}{rows})"
            f" — regtune best {study.id} --download {model.filename}"
        )
        if model.note:  # why it is not the plain refit (refused, or λ raised for max_nonzero)
            console.print(Text(f"  note: {model.note}"))


def _fold_models(member_rows: list[int]) -> str:
    """How k fold models trained: each on every non-test row but its fold's (folds differ by a
    row at most), so together on every one, each row in k − 1 of them (one fold's rows alone
    read as the whole)."""
    k, low, high = len(member_rows), min(member_rows), max(member_rows)
    together = sum(member_rows) // (k - 1)
    each = f"{low:,}" if low == high else f"{low:,} or {high:,}"
    return f", {k} fold models, each trained on {each} of {together:,} rows"


def numbered(number: int, user_attrs: dict[str, Any]) -> str:
    """A trial's number, and which of the definition's ``points_to_evaluate`` it ran if it ran
    one: ``0 (point 0)``."""
    point = user_attrs.get(POINT_ATTR)
    return str(number) if point is None else f"{number} (point {point})"


def _best_value(study: StudyOut, best: BestTrial, *, front: str) -> tuple[str, str]:
    """Which trial ``best`` is and its value, by the objective's name (``val_rmse 53.839``):
    with several objectives, one trial of the Pareto front (the best first objective), its
    value of each (``front``: where the rest is)."""
    from regtune.service.client.watch import named_values

    objectives = study.definition.get("objectives") or []
    values = best.values or [best.value]
    if len(objectives) > 1 and best.values:
        return f" (the front's best {objectives[0]}; {front})", named_values(study, values)
    return "", named_values(study, values[:1])


def print_best(study: StudyOut, best_trial: BestTrial) -> None:
    which, value = _best_value(study, best_trial, front=f"regtune show {study.id}: the front")
    note = study.best_model.note if study.best_model else None  # why not the plain refit
    console.print(
        Text(
            f"trial #{best_trial.number}{which}  {value}  "
            f"non-zero {fmt(best_trial.n_nonzero)}\n"
            f"params: {params(best_trial.params)}\n"
            + (
                f"test (trial):       {params(sorted_by_name(best_trial.test_metrics or {}))}"
                if _test_split(study)
                else f"test: {_no_test_split(study)}"
            )
            + (
                f"\n{_saved_label(study)} {params(sorted_by_name(best_trial.refit_test_metrics))}"
                if best_trial.refit_test_metrics
                else ""
            )
            + (f"\nnote: {note}" if note else "")
        )
    )
