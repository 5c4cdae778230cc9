"""An uploaded table → numeric features and a target, checked column by column.

Numbers stay numbers, text columns are one-hot encoded under a cap, a column mixing the two is
refused with the row at fault. Missing feature values stay NaN here; the worker fills them with
statistics of the training split (see ``worker/missing.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regtune.service.errors import FieldProblem, InvalidUpload
from regtune.service.ingest import notes
from regtune.service.ingest.decimals import read_as_file
from regtune.service.ingest.dialects import COMMAS, Dialect
from regtune.service.ingest.features import Feature, duplicate_names, one_hot
from regtune.service.ingest.formats import detect_format, read_columns
from regtune.service.ingest.header import Limits, column_name, ignore_problem, same_name
from regtune.service.ingest.marks import Evidence
from regtune.service.ingest.missing_values import check_missing_values, read_as_missing
from regtune.service.ingest.values import Column, classify, label
from regtune.service.spec.enums import Task

TASKS = tuple(Task)


@dataclass
class Table:
    """An upload turned into what a worker trains on, plus what the API reports about it."""

    format: str
    X: np.ndarray
    """float64, rows x features; NaN marks a missing value."""
    y: np.ndarray
    """float64 for regression, int64 class codes 0..k-1 for classification."""
    task: str
    feature_names: list[str]
    groups: list[tuple[int, int]]
    """[start, stop) feature ranges of one-hot encoded text columns (filled by their mode)."""
    columns: list[dict[str, Any]]
    classes: list[str] | None
    target_summary: dict[str, Any]
    missing: dict[str, Any]
    notes: list[str]
    """What the user should know about how the file was read (a task auto chose, say)."""
    dialect: Dialect = COMMAS
    """How the file was written: its separator, decimal mark and text encoding."""
    target_decimal: str | None = None
    """In a file of decimal commas, the mark the target's numbers were read with (``Reading``):
    predict scores a file's target with it, as ``Encoder.decimals`` reads the features."""


# ---------------------------------------------------------------------------- target


def task_problem(rule: str) -> InvalidUpload:
    """The task the upload asked for does not fit its target: the 422 names ``task``."""
    return InvalidUpload(f"task: {rule}", [FieldProblem(path="task", rule=rule)])


def target_problem(message: str) -> InvalidUpload:
    """The target column cannot be learned whatever the task (constant, one class, empty, too
    many classes): the 422 names ``target``, as one the file lacks does."""
    return InvalidUpload(message, [FieldProblem(path="target", rule=message)])


def _target(column: Column, task: str, limits: Limits) -> tuple[str, np.ndarray, list[str] | None]:
    """Return the task, y for the rows where the target is present, and the class labels."""
    keep = ~column.missing
    if column.text is not None:
        if task == "regression":
            first = str(column.text[keep][0])[:40]
            raise task_problem(
                f"regression needs a numeric target; {column.name!r} holds text ({first!r}): "
                "use task auto, binary or multiclass"
            )
        import pandas as pd  # here: what reads a stored upload (a worker) does not need it

        labels = pd.Categorical(column.text[keep])  # sorted; no fixed-width copy of the text
        classes = [str(v) for v in labels.categories]
        codes = labels.codes
    else:
        assert column.numeric is not None
        values = column.numeric[keep]
        distinct = np.unique(values)
        if task == "auto":
            task = "binary" if len(distinct) == 2 else "regression"
        if task == "regression":
            if len(distinct) < 2:
                raise target_problem(f"target column {column.name!r} is constant")
            return task, values.astype(np.float64), None
        if task == "multiclass" and len(distinct) > limits.max_categories:
            raise task_problem(
                f"multiclass makes each distinct number of {column.name!r} a class: "
                f"{len(distinct)} classes, at most {limits.max_categories} "
                "(REGTUNE_DATASET_MAX_CATEGORIES): use task auto or regression"
            )
        classes = [label(float(v)) for v in distinct]
        codes = np.searchsorted(distinct, values)
    if len(classes) < 2:
        raise target_problem(f"target column {column.name!r} has one class ({classes[0]!r})")
    if task == "auto":
        task = "binary" if len(classes) == 2 else "multiclass"
    if task == "binary" and len(classes) != 2:
        raise task_problem(
            f"binary needs exactly 2 classes; {column.name!r} has {len(classes)}: use task auto "
            "or multiclass"
        )
    if len(classes) > limits.max_categories:
        raise target_problem(
            f"target column {column.name!r} has {len(classes)} classes; at most "
            f"{limits.max_categories} (REGTUNE_DATASET_MAX_CATEGORIES)"
        )
    return task, codes.astype(np.int64), classes


def target_summary(y: np.ndarray, task: str, classes: list[str] | None) -> dict[str, Any]:
    if task != "regression":
        assert classes is not None
        counts = np.bincount(y, minlength=len(classes))
        return {
            "kind": "classes",
            "classes": [
                {"label": c, "count": int(n), "fraction": round(float(n) / len(y), 6)}
                for c, n in zip(classes, counts, strict=True)
            ],
        }
    counts, edges = np.histogram(y, bins=10)
    q = np.quantile(y, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "kind": "numeric",
        "min": float(y.min()),
        "max": float(y.max()),
        "mean": float(y.mean()),
        "std": float(y.std()),
        "quantiles": {
            k: float(v) for k, v in zip(("p05", "p25", "p50", "p75", "p95"), q, strict=True)
        },
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


# ---------------------------------------------------------------------------- the whole table


Encoded = tuple[np.ndarray, list[str], list[tuple[int, int]], list[dict[str, Any]]]


def _fit(features: list[Column], keep: np.ndarray) -> list[Feature]:
    """Each column numeric, or text with the sorted categories of the kept rows."""
    fitted = []
    for col in features:
        if col.text is None:
            fitted.append(Feature(col.name))
            continue
        present = col.text[keep][~col.missing[keep]]
        fitted.append(Feature(col.name, tuple(sorted(set(present.tolist())))))
    return fitted


def _encode(
    features: list[Column], fitted: list[Feature], keep: np.ndarray, limits: Limits
) -> Encoded:
    """The kept rows of ``features`` encoded as ``fitted`` (``_fit``), whose categories
    ``refuse_unusable`` has checked against the limit."""
    n = int(keep.sum())
    width = sum(len(f.names) for f in fitted)
    if width > limits.max_columns:
        raise InvalidUpload(
            f"one-hot encoding gives {width} features; at most {limits.max_columns} "
            "(REGTUNE_DATASET_MAX_COLUMNS)"
        )
    if n * width > limits.max_cells:
        raise InvalidUpload(
            f"{n} rows x {width} features is more than {limits.max_cells} values "
            "(REGTUNE_DATASET_MAX_CELLS); upload fewer rows"
        )
    for name, first, second in duplicate_names(fitted)[:1]:
        raise InvalidUpload(
            f"columns {first!r} and {second!r} both become the feature {name!r} (a text column "
            "C becomes one feature C=<value> per value); rename one of them"
        )
    X = np.empty((n, width), dtype=np.float64)
    names: list[str] = []
    groups: list[tuple[int, int]] = []
    columns: list[dict[str, Any]] = []
    for col, feature in zip(features, fitted, strict=True):
        start = len(names)
        missing = col.missing[keep]
        if feature.categories is None:
            assert col.numeric is not None
            X[:, start] = col.numeric[keep]
            info: dict[str, Any] = {"name": col.name, "kind": "numeric"}
            if col.reading is not None:  # predict reads the column's numbers so (``Encoder``)
                info["decimal"] = col.reading.mark
        else:
            categories = list(feature.categories)
            assert col.text is not None
            X[:, start : start + len(categories)] = one_hot(col.text[keep], missing, categories)
            groups.append((start, start + len(categories)))
            info = {"name": col.name, "kind": "categorical", "categories": categories}
        names += feature.names
        info["n_missing"] = int(missing.sum())
        info["features"] = [start, len(names)]
        columns.append(info)
    return X, names, groups, columns


def refuse_unusable(features: list[Column], fitted: list[Feature], limits: Limits) -> None:
    """Refuse every feature column the upload cannot take, all in one answer (an empty one,
    one of more categories than the limit: an id, free text, dates), with the ``ignore`` that
    leaves them out; one upload per column found them one at a time."""
    problems: list[tuple[str, str, Sequence[str]]] = []
    for col, feature in zip(features, fitted, strict=True):
        if col.missing.all():
            problems.append((col.name, "is empty in every row", ()))
        elif (categories := feature.categories) and len(categories) > limits.max_categories:
            said = (
                f"has {len(categories)} distinct text values; at most "
                f"{limits.max_categories} are one-hot encoded (REGTUNE_DATASET_MAX_CATEGORIES)"
            )
            problems.append((col.name, said, categories))
    if len(problems) == 1:
        name, said, seen = problems[0]
        raise InvalidUpload(f"column {name!r} {said}{leave_out(name, seen)}")
    if problems:
        each = "; ".join(
            f"column {name!r} {said}{looks_like(seen)}" for name, said, seen in problems
        )
        names = [name for name, _, _ in problems]
        raise InvalidUpload(
            f"{len(problems)} columns cannot be uploaded: {each}; to upload the file without "
            f"them: {notes.ignore_hint(names)}"
        )


def looks_like(categories: Sequence[str]) -> str:
    """What a column's text values look like, when that says why it is refused (dates, numbers
    written with a sign or a currency)."""
    dated = next((c for c in categories if notes.DATE.match(c)), None)
    if dated is not None:
        return f"; its values look like dates ({dated!r})"
    if (shown := notes.shown_numbers(categories)) is not None:
        return (
            f"; its values are {notes.SHOWN_NUMBERS.format(shown=shown)}, read as text: save "
            "them as plain numbers to use them"
        )
    return ""


def leave_out(name: str, categories: Sequence[str] = ()) -> str:
    """How to upload the file without a column it cannot take (an id, free text, dates)."""
    return f"{looks_like(categories)}; to upload the file without it: {notes.ignore_hint([name])}"


def _unnamed_first(names: Sequence[str]) -> str | None:
    """The name of the file's first column when it is the name of a column without one
    (``column_1``, as ``column_name`` gives it: a pandas index ``to_csv`` wrote), else None."""
    unnamed = column_name("", 0)
    return unnamed if names and names[0] == unnamed else None


def _classified(
    names: Sequence[str],
    values: Sequence[Any],
    limits: Limits,
    *,
    na_tokens: Sequence[str],
    dialect: Dialect,
) -> tuple[list[Column], Evidence | None]:
    """Each column as numbers or text (``classify``), and in a file of decimal commas the mark
    its columns of numbers show, which a column whose own numbers show none is read with
    (``decimals.read_as_file``, as predict reads it)."""
    cells = dict(zip(names, values, strict=True))

    def read(name: str, unshown: str = ",") -> Column:
        return classify(
            name,
            cells[name],
            limits,
            na_tokens=na_tokens,
            allow_empty=True,
            decimal=dialect.decimal,
            where=dialect.where,
            unshown=unshown,
        )

    if dialect.decimal != ",":
        return [read(name) for name in names], None
    columns, shown = read_as_file(names, read)
    return list(columns.values()), shown


def read_table(
    raw: bytes,
    *,
    filename: str,
    target: str,
    task: str = "auto",
    ignore: Collection[str] = (),
    limits: Limits | None = None,
    encoding: str | None = None,
    missing_values: Sequence[str] = (),
) -> Table:
    """Parse, check and encode an upload; raise ``InvalidUpload`` naming the first problem.

    ``ignore``d columns (a row id, say) are dropped as they are read: never classified, encoded
    or counted against the column and cell limits, so a file without them predicts. A CSV is
    text in ``encoding`` (UTF-8 when None). Cells written as one of ``missing_values`` are
    missing, as ``NA_TOKENS`` are (``missing_values``)."""
    limits = limits or Limits()
    declared = check_missing_values(missing_values)
    tokens = read_as_missing(declared)
    target, ignore = same_name(target), {same_name(name) for name in ignore}
    if task not in TASKS:
        raise InvalidUpload(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if target in ignore:
        raise ignore_problem(f"{target!r} is the target column; it cannot be left out")
    if not raw:
        raise InvalidUpload("the file is empty")
    fmt = detect_format(raw, filename)
    names, values, dialect = read_columns(
        raw,
        filename,
        target=target,
        limits=limits,
        na_tokens=tokens,
        ignore=ignore,
        encoding=encoding,
    )
    n_rows = len(values[0]) if values else 0
    if n_rows == 0:
        raise InvalidUpload("the file has a header but no data rows")
    limits.check_size(n_rows, len(names), read=fmt == "csv")  # a CSV's stop at rows_read
    columns, shown = _classified(names, values, limits, na_tokens=tokens, dialect=dialect)
    target_col = columns[names.index(target)]
    if target_col.missing.all():
        raise target_problem(f"target column {target!r} has no value in any row")
    features = [c for c in columns if c.name != target]
    if not features and ignore:
        raise ignore_problem(
            f"leaving out {', '.join(map(repr, sorted(ignore)))} leaves no feature column "
            "besides the target"
        )
    if not features:
        raise InvalidUpload("the file has no feature columns besides the target")
    keep = ~target_col.missing
    if int(keep.sum()) < limits.min_rows:
        raise InvalidUpload(
            f"the file has {int(keep.sum())} rows with a target value; at least "
            f"{limits.min_rows} are needed (REGTUNE_DATASET_MIN_ROWS)"
        )
    fitted = _fit(features, keep)
    refuse_unusable(features, fitted, limits)
    resolved, y, classes = _target(target_col, task, limits)
    X, feature_names, groups, encoded = _encode(features, fitted, keep, limits)
    missing = {
        "policy": "impute",
        "numeric": "median of the training split",
        "categorical": "mode of the training split",
        "fitted_on": "the training split of each fold, when a trial trains",
        "missing_by_column": {c["name"]: c["n_missing"] for c in encoded if c["n_missing"]},
        "rows_with_missing": int(np.isnan(X).any(axis=1).sum()),
        "target_missing_rows_dropped": int((~keep).sum()),
    }
    return Table(
        format=fmt,
        X=X,
        y=y,
        task=resolved,
        feature_names=feature_names,
        groups=groups,
        columns=encoded,
        classes=classes,
        target_summary=target_summary(y, resolved, classes),
        missing=missing,
        notes=[
            *dialect.notes,
            *notes.declared_notes(declared),
            *notes.decimal_point_notes(columns, shown),
            *(notes.task_notes(target, y) if task == "auto" and resolved == "regression" else []),
            *notes.label_case_notes(target, classes),
            *notes.row_number_notes(features, unnamed=_unnamed_first(names)),
            *notes.unnamed_notes(dialect.unnamed, features, unnamed=_unnamed_first(names)),
            *notes.shown_number_notes(encoded),
            *notes.date_notes(encoded),
            *notes.constant_notes(encoded, X),
            *notes.unique_text_notes(encoded, X),
        ],
        dialect=dialect,
        target_decimal=None if target_col.reading is None else target_col.reading.mark,
    )
