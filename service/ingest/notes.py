"""What an upload reads as the user may not mean, said in the dataset's ``notes``: the marks
and decimal mark it read cells with, a numeric target of a few values taken as a regression, a
column of row numbers, of numbers as a spreadsheet shows them, of dates, of one value in every
row, or of a different text in every row, and class labels that differ only in case or spaces.
Each note says what was done and how to do otherwise."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

import numpy as np

from regtune.service.ingest import marks
from regtune.service.ingest.decimals import read_as
from regtune.service.ingest.header import column_name
from regtune.service.ingest.values import Column, label

FEW_VALUES = 10
"""A numeric target of at most this many distinct values taken as a regression is said to be."""
DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{2,4}\b")
"""A value that starts as a date does: ``2024-03-01``, ``2024-03-01T12:00``, ``01/03/2024``."""


SHOWN_NUMBERS = (
    "numbers as a spreadsheet shows them ({shown!r}: a currency or percent sign, a leading "
    "apostrophe or a typographic minus)"
)


def shown_numbers(categories: Sequence[str]) -> str | None:
    """A category that is a number as a spreadsheet shows it (``$12``, ``12%``), when every one
    is a number, shown so or plain."""
    shown = [marks.shown_number(c) for c in categories]
    plain = [marks.reads_with_point(c) or marks.reads_with_comma(c) for c in categories]
    if not any(shown) or not all(s or p for s, p in zip(shown, plain, strict=True)):
        return None
    return categories[shown.index(True)]


def ignore_hint(names: Sequence[str]) -> str:
    """The ``ignore`` that leaves ``names`` out of an upload, as the API's field and as the
    CLI's options, each name quoted for a shell: ``ignore='id' (--ignore)`` for one,
    ``ignore=['my col', 'b'] (--ignore 'my col' --ignore b)`` for several."""
    if len(names) == 1:
        return f"ignore={names[0]!r} (--ignore)"
    options = " ".join(f"--ignore {shlex.quote(name)}" for name in names)
    return f"ignore={list(names)!r} ({options})"


def date_notes(columns: list[dict[str, Any]]) -> list[str]:
    """Text columns of dates, one-hot encoded as categories: a date the upload did not hold
    (every later one) is none of them at predict, so the column tells new rows nothing."""
    notes = []
    for column in columns:
        categories = column.get("categories") or []
        if categories and all(DATE.match(c) for c in categories):
            name = column["name"]
            notes.append(
                f"column {name!r} holds dates ({categories[0]!r}), read as text: one-hot encoded "
                f"as {len(categories)} categories, so at predict a date the upload does not hold "
                "(any later one) is none of them; to use dates, add them as numbers (days since "
                f"a start, a year, a month), or upload without this column: {ignore_hint([name])}"
            )
    return notes


def shown_number_notes(columns: list[dict[str, Any]]) -> list[str]:
    """Text columns of numbers as a spreadsheet shows them, one-hot encoded as categories."""
    notes = []
    for column in columns:
        shown = shown_numbers(column.get("categories") or [])
        if shown is not None:
            notes.append(
                f"column {column['name']!r} holds {SHOWN_NUMBERS.format(shown=shown)}, read as "
                f"text: one-hot encoded as {len(column['categories'])} categories; save them as "
                "plain numbers to use them as numbers"
            )
    return notes


def declared_notes(declared: Sequence[str]) -> list[str]:
    """The upload's own missing-value marks, which its cells were read with."""
    if not declared:
        return []
    shown = ", ".join(repr(m) for m in declared)
    return [f"cells written {shown} were read as missing values (missing_values)"]


def decimal_point_notes(columns: list[Column], shown: marks.Evidence | None = None) -> list[str]:
    """Columns of a decimal-comma file whose numbers are written with decimal points, and those
    read with them as the file's other columns show them (``shown``: ``decimals.file_mark``),
    where a value reads as another number with a decimal comma (``79.890``)."""
    said = []
    for c in columns:
        if c.reading is None or c.reading.mark != ".":
            continue
        if c.reading.shown is not None:
            said.append(
                f"column {c.name!r} is written with decimal points ({c.reading.shown.text[:40]!r}),"
                " so its numbers were read with them"
            )
        elif c.reading.either is not None and shown is not None:
            value = c.reading.either[1][:40]
            said.append(
                f"column {c.name!r} shows no decimal mark of its own ({value!r} is "
                f"{read_as(value, '.'):g} with a decimal point, {read_as(value, ','):g} with a "
                "decimal comma): its numbers were read with decimal points, as the file's other "
                f"columns are written ({shown.text[:40]!r} in column {shown.column!r})"
            )
    return said


def row_number_notes(features: list[Column], *, unnamed: str | None = None) -> list[str]:
    """Numeric columns that hold the row numbers in order (0 or 1 up), as ``to_csv`` writes a
    pandas index: a feature that means nothing at predict (or the order of the rows); and the
    file's first column when it has the name of one without (``unnamed``: ``column_1``) and
    holds integers in increasing order with gaps, as ``to_csv`` writes the index of a frame
    whose rows were filtered."""
    return [note for column in features if (note := _row_number_note(column, unnamed)) is not None]


def _row_number_note(column: Column, unnamed: str | None) -> str | None:
    """``row_number_notes``' of one column, or None."""
    values = column.numeric
    if values is None or len(values) < 2:
        return None
    first, last = label(float(values[0])), label(float(values[-1]))
    if values[0] in (0.0, 1.0) and np.array_equal(
        values, np.arange(values[0], values[0] + len(values))
    ):
        return (
            f"column {column.name!r} holds the row numbers {first}..{last} in order, as "
            "pandas' to_csv writes its index: if it is a row id, not a feature, upload with "
            f"{ignore_hint([column.name])}"
        )
    if column.name == unnamed and _increasing_integers(values):
        return (
            f"column {column.name!r}, the file's first, holds integers in increasing order "
            f"({first}..{last}, {len(values)} of them), as pandas' to_csv writes the index "
            "of a frame whose rows were filtered, in a column without a name: if it is a row "
            f"id, not a feature, upload with {ignore_hint([column.name])}"
        )
    return None


def unnamed_notes(
    positions: Sequence[int], features: list[Column], *, unnamed: str | None = None
) -> list[str]:
    """Feature columns without a name in the header (``positions``, from 1), each read as
    ``column_<n>`` (``column_name``), but one a row-number note names already (``unnamed``:
    as ``row_number_notes`` takes it)."""
    said = {c.name for c in features if _row_number_note(c, unnamed) is None}
    given = [(n, name) for n in positions if (name := column_name("", n - 1)) in said]
    if not given:
        return []
    names = [name for _, name in given]
    if len(given) == 1:
        return [
            f"column {given[0][0]} has no name in the header: it is read as the feature "
            f"{names[0]!r}; name it in the header, or upload without it: {ignore_hint(names)}"
        ]
    return [
        f"columns {', '.join(str(n) for n, _ in given)} have no name in the header: they are "
        f"read as the features {', '.join(map(repr, names))}; name them in the header, or "
        f"upload without them: {ignore_hint(names)}"
    ]


def _increasing_integers(values: np.ndarray) -> bool:
    """Every value an integer (none missing), each above the one before it."""
    return bool(
        np.isfinite(values).all()
        and (values == np.round(values)).all()
        and (np.diff(values) > 0).all()
    )


def task_notes(target: str, y: np.ndarray) -> list[str]:
    """A numeric target of a few distinct values, which task auto took as a regression."""
    distinct = np.unique(y)
    if len(distinct) > FEW_VALUES:
        return []
    shown = ", ".join(label(float(v)) for v in distinct)
    return [
        f"task auto took target {target!r} as a regression: it holds numbers, "
        f"{len(distinct)} distinct ({shown}); to predict them as classes, upload with "
        "task multiclass (--task multiclass)"
    ]


def constant_notes(columns: list[dict[str, Any]], X: np.ndarray) -> list[str]:
    """Feature columns of one value in every row that has one (a text column of one category):
    filled with that value where missing, each tells the model nothing, as a constant target
    is refused for; one note names them all, with the ``ignore`` that leaves them out."""
    constant: list[tuple[str, str]] = []
    for column in columns:
        start, _ = column["features"]
        if column["kind"] == "categorical":
            if len(column["categories"]) == 1:
                constant.append((column["name"], repr(column["categories"][0])))
            continue
        values = X[:, start][~np.isnan(X[:, start])]
        if len(values) and values.min() == values.max():
            constant.append((column["name"], label(float(values[0]))))
    if not constant:
        return []
    names = [name for name, _ in constant]
    each = ", ".join(f"{name!r} ({value})" for name, value in constant)
    if len(constant) == 1:
        return [
            f"column {each} holds one value in every row that has one: it carries no "
            "information, so the model cannot learn from it; to upload without it: "
            f"{ignore_hint(names)}"
        ]
    return [
        f"columns {each} each hold one value in every row that has one: they carry no "
        "information, so the model cannot learn from them; to upload without them: "
        f"{ignore_hint(names)}"
    ]


def label_case_notes(target: str, classes: Sequence[str] | None) -> list[str]:
    """Class labels that differ only in case or spaces (``yes`` and ``Yes``, ``no  thanks`` and
    ``no thanks``): each is a class of its own, as the file writes it, where the user likely
    meant one. Said, not merged: which labels mean the same is the user's to say."""
    groups: dict[str, list[str]] = {}
    for c in classes or ():
        groups.setdefault(" ".join(c.split()).casefold(), []).append(c)
    alike = [group for group in groups.values() if len(group) > 1]
    if not alike:
        return []
    shown = "; ".join(", ".join(repr(c) for c in group) for group in alike)
    return [
        f"target {target!r} has labels that differ only in case or spaces ({shown}): each is a "
        "class of its own; if they mean the same, write them alike and upload again"
    ]


def unique_text_notes(columns: list[dict[str, Any]], X: np.ndarray) -> list[str]:
    """Text columns with a different value in every row (a name, an e-mail, an id): one-hot
    encoded, each category is one row's, and a new row's value is none of them at predict.
    Numbers as a spreadsheet shows them and dates have notes of their own."""
    notes = []
    for column in columns:
        categories = column.get("categories") or []
        start, end = column["features"]
        if len(categories) < 2 or not np.all(np.nansum(X[:, start:end], axis=0) == 1):
            continue
        if shown_numbers(categories) is not None or all(DATE.match(c) for c in categories):
            continue
        name = column["name"]
        notes.append(
            f"column {name!r} has a different text in every row that has one ({len(categories)} "
            f"values, such as {categories[0]!r}): one-hot encoded, each category is one row's, so "
            "it tells a new row nothing at predict; if it is a name or an id, upload with "
            f"{ignore_hint([name])}"
        )
    return notes
