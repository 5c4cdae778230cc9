"""A column's cells → numbers, written with decimal points or, in a semicolon file, either mark.

A comma file's numbers have decimal points, and thousands grouped by commas where a spreadsheet
grouped them (``1,234.5``). A semicolon file's are written with decimal commas, thousands grouped
by ``.`` or a space (``1.234,5``), as spreadsheets write CSV where the decimal mark is a comma, or
with decimal points, as pandas' ``to_csv(sep=";")`` writes them: a column is read with the mark
some of its numbers read only with (``3,14``; ``0.857``), else with the mark the file's other
columns show (``file_mark``) or, at predict, the one the model recorded for it (``Reading``), so
``1.234`` is one number whatever the other rows of a file hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.dialects import DATA_ROWS, DataRows
from regtune.service.ingest.marks import DECIMAL_COMMA, GROUP_MARKS, GROUPED, MARKS, Evidence

PLURAL = {".": "decimal points", ",": "decimal commas"}


@dataclass(frozen=True)
class Reading:
    """How a column of numbers of a file of decimal commas was read: with the mark its own
    numbers show, else with the file's (``file_mark``) or, at predict, the one the model
    recorded for it, so the same text is the same number whatever other rows a file holds."""

    mark: str
    """``,`` or ``.``: the decimal mark the numbers were read with."""
    shown: Evidence | None = None
    """A value that reads only with ``mark``, where the column's own numbers chose it."""
    either: tuple[int, str] | None = None
    """A value (its row, its text) that reads as two numbers, one per mark (``1.234``: 1234 or
    1.234; ``read_as``)."""


def to_numbers(stripped: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """float64 of every present cell that reads as a number (pandas' ``to_numeric``, or
    thousands grouped by commas: ``1,234.5``), NaN for the others; without pandas, Python's
    float() of the decimal and exponent forms it accepts."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        numbers = np.full(len(stripped), np.nan)
        for i in np.flatnonzero(~missing):
            numbers[i] = _number(stripped[i])
        return numbers
    series = pd.to_numeric(pd.Series(stripped).where(~missing), errors="coerce")
    numbers = series.to_numpy(dtype="float64", na_value=np.nan, copy=True)
    unread = np.flatnonzero(~missing & np.isnan(numbers))
    if unread.size and GROUPED.fullmatch(stripped[unread[0]]):  # else a text column: no regex
        for i in unread:
            if GROUPED.fullmatch(stripped[i]):
                numbers[i] = float(stripped[i].replace(",", ""))
    return numbers


def decimal_comma_numbers(
    name: str,
    stripped: np.ndarray,
    missing: np.ndarray,
    *,
    where: DataRows = DATA_ROWS,
    unshown: str = ",",
) -> tuple[np.ndarray, Reading]:
    """float64 of every present cell of a semicolon file's column that reads as a number, NaN
    for the others, and how they were read. The column's numbers are read with the mark some of
    them read only with (``3,14``; ``3.14``, ``0.857``), else with ``unshown``: the file's
    decimal comma (``1.234`` is 1234), or the mark the file's other columns or the model show.
    A column of numbers that needs both is refused: neither reading is the file's."""
    comma, point = _decimal_commas(stripped, missing), _points(stripped, missing)
    comma_only = ~np.isnan(comma) & np.isnan(point)
    point_only = np.isnan(comma) & ~np.isnan(point)
    if comma_only.any() and point_only.any():
        if (np.isnan(comma) & np.isnan(point) & ~missing).any():
            return np.where(np.isnan(comma), point, comma), Reading(",")  # text: refused so
        first, second = int(np.flatnonzero(comma_only)[0]), int(np.flatnonzero(point_only)[0])
        raise InvalidUpload(
            f"column {name!r} mixes numbers that read only with a decimal comma, as "
            f"{stripped[first]!r} at {where(first)}, and only with a decimal point, as "
            f"{stripped[second]!r} at {where(second)}; write every number of a column with the "
            "same decimal mark"
        )
    differ = np.flatnonzero(~np.isnan(comma) & ~np.isnan(point) & (comma != point))
    either = None if not differ.size else (int(differ[0]), str(stripped[differ[0]]))
    if not (comma_only.any() or point_only.any()):
        return (comma if unshown == "," else point), Reading(unshown, either=either)
    mark, only = (",", comma_only) if comma_only.any() else (".", point_only)
    row = int(np.flatnonzero(only)[0])
    shown = Evidence(mark, name, row, str(stripped[row]))
    return (comma if mark == "," else point), Reading(mark, shown, either)


def _points(stripped: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """float64 of every present cell without a comma that reads as a number with a decimal
    point, NaN for the others: in a file of decimal commas, no grouping by commas either."""
    commas = np.fromiter((v is not None and "," in v for v in stripped), bool, len(stripped))
    return to_numbers(stripped, missing | commas)


def _decimal_commas(stripped: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """float64 of every present cell that reads as ``DECIMAL_COMMA``, NaN for the others."""
    numbers = np.full(len(stripped), np.nan)
    for i in np.flatnonzero(~missing):
        text = stripped[i]
        if DECIMAL_COMMA.fullmatch(text):
            for mark in GROUP_MARKS:
                text = text.replace(mark, "")
            numbers[i] = float(text.replace(",", "."))
    return numbers


def _number(text: str) -> float:
    if GROUPED.fullmatch(text):
        return float(text.replace(",", ""))
    if "_" in text or not text.isascii():  # float() reads 1_000 and other scripts' digits
        return np.nan
    try:
        return float(text)
    except ValueError:
        return np.nan


def file_mark(shown: Iterable[Evidence | None]) -> Evidence | None:
    """The decimal mark the columns of numbers of a file of decimal commas show, by a value that
    reads only with it (each column's ``Reading.shown``); None where they show neither or both.
    A column whose own numbers show no mark is read with it (``1.234`` is 1.234 beside
    ``0.857``, as pandas' ``to_csv(sep=";")`` writes), else with the file's decimal comma."""
    found = [e for e in shown if e is not None]
    if not found or any(e.mark != found[0].mark for e in found):
        return None
    return found[0]


class Read(Protocol):
    """A column as ``values.classify`` reads it: in a file of decimal commas, how its numbers
    were read (None for text)."""

    reading: Reading | None


ReadT = TypeVar("ReadT", bound=Read)


def read_as_file(
    names: Sequence[str],
    read: Callable[[str, str], ReadT],
    *,
    recorded: Mapping[str, str] | None = None,
    shown_too: Evidence | None = None,
) -> tuple[dict[str, ReadT], Evidence | None]:
    """The columns ``names`` of a file of decimal commas, each read by ``read(name, unshown)``
    as the whole file decides, at upload and at predict alike, and the mark the file's columns
    of numbers show (``file_mark``, counting ``shown_too``: predict's target, which only
    scores). A column whose own numbers show no mark is read with the one ``recorded`` for it
    (a model's, ``Encoder.decimals``), else with the file's, else with a decimal comma: so
    ``79.890`` beside ``-0.721`` is 79.89, and 79890 beside ``3,14`` or alone."""
    recorded = recorded or {}
    first = {name: read(name, recorded.get(name, ",")) for name in names}
    own = [c.reading.shown for c in first.values() if c.reading is not None]
    shown = file_mark([shown_too, *own])
    if shown is None or shown.mark == ",":
        return first, shown
    again = {
        name: read(name, shown.mark)
        for name, column in first.items()
        if name not in recorded and column.reading is not None and column.reading.shown is None
    }
    return {**first, **again}, shown


def read_as(text: str, mark: str) -> float:
    """A value that reads with either decimal mark (``Reading.either``: ``1.234``) read with
    ``mark``: 1234.0 with a decimal comma, 1.234 with a point."""
    cell = np.array([text], dtype=object)
    missing = np.zeros(1, dtype=bool)
    return float((_decimal_commas if mark == "," else _points)(cell, missing)[0])


@dataclass(frozen=True)
class Marks:
    """A column of a decimal-comma file mixing numbers that read only with a decimal comma and
    ones that read only with a decimal point, which upload refuses (``decimal_comma_numbers``),
    read as predict's target: with the mark more of them need (the file's comma on a tie)."""

    kept: str
    """``comma`` or ``point``: the mark the column's numbers are read with."""
    example: str
    """A cell that reads only with it."""
    other: np.ndarray
    """The rows whose number reads only with the other mark (NaN in the numbers read)."""


def one_mark(stripped: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, Marks]:
    """A column of numbers needing both decimal marks read with the one more of them need
    (``Marks``), NaN where a number reads only with the other."""
    comma, point = _decimal_commas(stripped, missing), _points(stripped, missing)
    comma_only = ~np.isnan(comma) & np.isnan(point)
    point_only = np.isnan(comma) & ~np.isnan(point)
    if point_only.sum() > comma_only.sum():
        kept, numbers, example, other = "point", point, point_only, comma_only
    else:
        kept, numbers, example, other = "comma", comma, comma_only, point_only
    return numbers, Marks(kept, str(stripped[int(np.flatnonzero(example)[0])]), other)


def against_record(
    name: str, recorded: str | None, reading: Reading, shown: Evidence | None, where: DataRows
) -> str | None:
    """What predict says of a column whose numbers a file shows written with the other mark than
    the one the model recorded (``Encoder.decimals``): its own (then read with theirs), or the
    file's other columns' (then read with the recorded one); of one it recorded none for (a model
    of a file of decimal points), read with the file's decimal points (``by_file_mark``); None
    where nothing contradicts."""
    either = reading.either
    if recorded is None:
        return by_file_mark(name, reading, shown, where)
    if reading.shown is not None and reading.mark != recorded:
        own = reading.shown
        said = (
            f"column {name!r} was read with {PLURAL[recorded]} when the model was trained, but "
            f"{own.text[:40]!r} at {where(own.row)} reads only with {MARKS[own.mark]}: the "
            f"column's numbers were read with {PLURAL[own.mark]}, as the file writes them"
        )
        if either is not None:
            said += (
                f", so {either[1]!r} at {where(either[0])} is {read_as(either[1], own.mark):g}, "
                f"where the training file's reading gives {read_as(either[1], recorded):g}"
            )
        return said
    if reading.shown is None and either is not None and shown is not None:
        if shown.mark == recorded:
            return None
        return (
            f"column {name!r} shows no decimal mark of its own, so its numbers were read with "
            f"{PLURAL[recorded]}, as when the model was trained: {either[1]!r} at "
            f"{where(either[0])} is {read_as(either[1], recorded):g}; the file's other numbers "
            f"are written with {PLURAL[shown.mark]} (as {shown.said(where)}), with which it "
            f"would be {read_as(either[1], shown.mark):g}"
        )
    return None


def by_file_mark(
    name: str, reading: Reading, shown: Evidence | None, where: DataRows
) -> str | None:
    """What predict says of a column the model recorded no mark for whose own numbers show none,
    read with the decimal points the file's other columns show, where a value reads as another
    number with a decimal comma (``79.890``), as upload's notes say it (a model of a file of
    decimal points read it with a decimal comma before marks were kept); None otherwise."""
    either = reading.either
    if reading.shown is not None or either is None or shown is None or shown.mark != ".":
        return None
    text = either[1][:40]
    return (
        f"column {name!r} shows no decimal mark of its own ({text!r} at {where(either[0])} is "
        f"{read_as(text, '.'):g} with a decimal point, {read_as(text, ','):g} with a decimal "
        f"comma): its numbers were read with decimal points, as the file's other numbers are "
        f"written (as {shown.said(where)}); the model, of a training file of decimal points, "
        "records no mark for the column"
    )
