"""Predict's target column, read to score: the values of the rows the model can score, and
why the others cannot be (a label it never saw, text where it predicts numbers, a number out of
range or written with the other decimal mark). The target only scores: those rows are
predicted and left out of the score, with a warning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from regtune.service.ingest.decimals import Marks, Reading
from regtune.service.ingest.dialects import DATA_ROWS, DataRows
from regtune.service.ingest.values import MAX_ABS_VALUE, bind, composed_levels, label, scorable

if TYPE_CHECKING:
    import pandas as pd


def score_target(
    name: str,
    values: pd.Series | np.ndarray,
    *,
    classes: Sequence[str] | None,
    na_tokens: Sequence[str],
    decimal: str = ".",
    where: DataRows = DATA_ROWS,
    unshown: str = ",",
) -> Target:
    """The target of the rows the model can score (class codes, or numbers where ``classes``
    is None), and which rows; ``values`` are those of the column ``name``. A label the model
    never saw, text or a number out of range where it predicts numbers, or a number that reads
    only with the decimal mark fewer of the column's need (``Marks``), leaves its row out of the
    score (``Target.notes`` say so): the target only scores, and the rows are predicted. In a
    file of decimal commas, numbers that show no mark are read with ``unshown`` (``reading``)."""
    numbers, text, missing, read = scorable(
        name, values, na_tokens=na_tokens, decimal=decimal, where=where, unshown=unshown
    )
    marks = read if isinstance(read, Marks) else None
    other = np.zeros(len(missing), dtype=bool) if marks is None else marks.other
    if classes is None:
        y, scored, notes = _numbers_scored(name, numbers, text, missing | other, where)
    else:
        y, scored, notes = _labels_scored(name, classes, numbers, text, missing | other, where)
    if marks is not None and text is not None and other.any():
        dropped = "point" if marks.kept == "comma" else "comma"
        said = (
            f"number(s) that read only with a decimal {dropped}",
            f" (the column's others read with a decimal {marks.kept}, as {marks.example!r})",
        )
        notes.append(_left_out(name, said, other, where, shown=list(text[other])))
    reading = read if isinstance(read, Reading) else None
    return Target(y, scored, ~missing & ~scored, tuple(n for n in notes if n), reading)


def _labels_scored(
    name: str,
    known_labels: Sequence[str],
    numbers: np.ndarray,
    text: np.ndarray | None,
    missing: np.ndarray,
    where: DataRows,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """The class codes of the rows with a label the model knows, which rows, and the
    warning of the labels it never saw."""
    present = np.flatnonzero(~missing)
    written = np.array(_written(numbers, text, ~missing), dtype=object)
    classes = composed_levels(known_labels)
    labels = [str(v) for v in bind(written, classes)]
    code = {c: i for i, c in enumerate(classes)}
    known = np.array([v in code for v in labels], dtype=bool)
    scored, unseen = ~missing, ~missing
    scored[present], unseen[present] = known, ~known
    shown = [v for v, k in zip(labels, known, strict=True) if not k]
    said = ("label(s) the model never saw", f" (its labels: {list(known_labels)[:10]})")
    codes = np.array([code[v] for v, k in zip(labels, known, strict=True) if k], np.int64)
    return codes, scored, [_left_out(name, said, unseen, where, shown=shown)]


def _numbers_scored(
    name: str, numbers: np.ndarray, text: np.ndarray | None, missing: np.ndarray, where: DataRows
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """A regression target's numbers of the rows the model can score, which rows, and the
    warnings of the others: text, a number out of range."""
    words = ~missing & np.isnan(numbers)
    far = ~missing & ~(np.abs(np.nan_to_num(numbers, nan=0.0)) <= MAX_ABS_VALUE)
    scored = ~missing & ~words & ~far
    notes = [
        _left_out(name, said, rows, where, shown=_as_written(numbers, text, rows))
        for said, rows in ((TEXT, words), (OUT_OF_RANGE, far))
    ]
    return numbers[scored], scored, notes


@dataclass(frozen=True)
class Target:
    """Predict's target column, read to score: the values of the rows the model can score."""

    y: np.ndarray
    """Class codes (int64) or numbers (float64) of the rows in ``scored``."""
    scored: np.ndarray
    """The rows with a target value the model can score."""
    unscorable: np.ndarray
    """The rows with a target value it cannot: a label it never saw, text among numbers, a
    number out of range."""
    notes: tuple[str, ...] = ()
    """What predict warns of the ``unscorable`` rows, one warning per reason."""
    reading: Reading | None = None
    """In a file of decimal commas, how the column's numbers were read (None where they need
    both marks, ``Marks``)."""


TEXT = ("text where the model predicts numbers", "")
OUT_OF_RANGE = ("value(s) out of range", f" (|x| must be ≤ {MAX_ABS_VALUE:g})")
"""What a regression target's cells hold that the model cannot score, in ``_left_out``'s
words: text, or a number past upload's limit (``values._numeric``: ``1e300``, ``inf``)."""


def _written(numbers: np.ndarray, text: np.ndarray | None, rows: np.ndarray) -> list[str]:
    """The target's cells of ``rows`` as text: a number as upload writes a class label
    (``2.0`` is ``2``), text as it is."""
    return [
        label(float(numbers[i])) if text is None or numbers[i] == numbers[i] else str(text[i])
        for i in np.flatnonzero(rows)
    ]


def _as_written(numbers: np.ndarray, text: np.ndarray | None, rows: np.ndarray) -> list[str]:
    """The target's cells of ``rows`` as the file writes them (``1e300``), or where it gives
    numbers alone (a Parquet column of floats), as Python writes the float (``1e+300``)."""
    if text is None:
        return [repr(float(numbers[i])) for i in np.flatnonzero(rows)]
    return [str(text[i]) for i in np.flatnonzero(rows)]


def _left_out(
    name: str,
    said: tuple[str, str],
    rows: np.ndarray,
    where: DataRows,
    *,
    shown: Sequence[str],
) -> str | None:
    """The warning of the target's cells the model cannot score: what they hold (``said``: the
    rule, then what the model knows), their values (``shown``, as written), how many ``rows``
    and where the first is."""
    if not rows.any():
        return None
    values = sorted(set(shown))
    listed = ", ".join(repr(v[:40]) for v in values[:5]) + (", ..." if len(values) > 5 else "")
    first = where(int(np.flatnonzero(rows)[0]))
    return (
        f"target column {name!r} has {said[0]}: {listed}{said[1]}, in {len(shown)} row(s), the "
        f"first at {first}; those rows are predicted but left out of the score"
    )
