"""One column's cells → numbers or text, the same way at upload and at predict.

A column is numeric when every present cell is a number, text when none is; a column mixing the
two is refused with the row at fault. The missing-value tokens (``NA_TOKENS``, stored with a
model so predict reads its file as upload read the training file) are missing in either kind.

A boolean is text ``True`` / ``False`` however it was written (``true``, ``TRUE``, a pandas or
Parquet bool), so one file's booleans are the same categories as another's; at predict a value
binds to the category that means the same (``bind``: ``1`` is ``True`` where the model knows
booleans, ``True`` is ``1`` where it knows 0/1).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.decimals import (
    Marks,
    Reading,
    decimal_comma_numbers,
    one_mark,
    to_numbers,
)
from regtune.service.ingest.dialects import DATA_ROWS, DataRows
from regtune.service.ingest.header import Limits
from regtune.service.ingest.marks import NA_TOKENS, Evidence, text_hint

if TYPE_CHECKING:
    import pandas as pd


MAX_ABS_VALUE = 1e100
BOOLEANS = {"true": "True", "false": "False"}
"""A boolean cell, any case, → how upload writes it (Python's own ``str(True)``)."""
TRUTH = {"True": "1", "False": "0", "1": "1", "0": "0"}
"""What a boolean or a 0/1 category means, to bind one written the other way."""


@dataclass
class Column:
    name: str
    numeric: np.ndarray | None
    """float64 with NaN for missing, when the column holds numbers."""
    text: np.ndarray | None
    """object array of stripped strings (None for missing), when it holds text."""
    missing: np.ndarray
    reading: Reading | None = None
    """In a file of decimal commas, how the column's numbers were read."""


def objects(values: pd.Series | np.ndarray) -> np.ndarray:
    """The cells as an object array, None for a null."""
    if isinstance(values, np.ndarray):
        return values
    return values.astype("object").where(values.notna(), None).to_numpy()


def cells(
    values: pd.Series | np.ndarray, na_tokens: Sequence[str] = NA_TOKENS, *, decimal: str = "."
) -> tuple[np.ndarray, np.ndarray]:
    """Every cell as a stripped string (None when missing: null or a missing-value token), and
    the missing mask. Numbers are written as upload writes class labels (``2.0`` is ``"2"``),
    with the file's ``decimal`` mark (pandas read ``2,5`` in a semicolon file as 2.5)."""
    tokens = set(na_tokens)
    strings = objects(values)
    stripped = np.array(
        [None if v is None else boolean(label(v, decimal=decimal).strip()) for v in strings],
        dtype=object,
    )
    missing = np.array([v is None or v in tokens for v in stripped], dtype=bool)
    stripped[missing] = None
    return composed(stripped), missing


def classify(
    name: str,
    values: pd.Series | np.ndarray,
    limits: Limits,
    *,
    na_tokens: Sequence[str] = NA_TOKENS,
    allow_empty: bool = False,
    decimal: str = ".",
    where: DataRows = DATA_ROWS,
    unshown: str = ",",
    parsed: bool = True,
) -> Column:
    """Numbers or text; an empty column is refused unless ``allow_empty`` (predict's rows may
    all lack a value the model fills). ``decimal`` is the file's decimal mark and ``where``
    names a refused row (``Dialect``: in a CSV file, by its line). In a file of decimal commas,
    a column whose own numbers show no mark is read with ``unshown`` (``Reading``); ``parsed``:
    a column of a numeric dtype was read from such text (pandas' CSV reader), not given as
    numbers (a DataFrame's), so a fraction there was written with a comma."""
    if (numbers := _number_dtype(values)) is not None:
        column = _numeric(name, numbers, allow_empty=allow_empty, where=where)
        if decimal == "," and parsed:
            column.reading = _parsed_reading(name, numbers, unshown=unshown)
        return column
    stripped, missing = _stripped(values, na_tokens)
    if missing.all():
        if allow_empty:
            return Column(name, np.full(len(stripped), np.nan), None, missing)
        raise InvalidUpload(f"column {name!r} is empty in every row")
    numbers, reading = _numbers(
        name, stripped, missing, decimal=decimal, where=where, unshown=unshown
    )
    text = ~missing & np.isnan(numbers)
    if not text.any():
        column = _numeric(name, numbers, allow_empty=allow_empty, where=where)
        column.reading = reading
        return column
    if (~missing & ~text).any():
        row = int(np.flatnonzero(text)[0])
        shown = str(stripped[row])[:40]
        raise InvalidUpload(
            f"column {name!r} holds numbers but {where(row)} has text {shown!r}"
            f"{text_hint(str(stripped[row]))}"
        )
    stripped[missing] = None
    lengths = np.fromiter((0 if v is None else len(v) for v in stripped), np.int64, len(stripped))
    over = np.flatnonzero(lengths > limits.max_text_chars)
    if over.size:
        row = int(over[0])
        raise InvalidUpload(
            f"column {name!r} has a text value of {int(lengths[row])} characters at {where(row)}; "
            f"text values are categories of at most {limits.max_text_chars} characters"
        )
    return Column(name, None, composed(stripped), missing)


def scorable(
    name: str,
    values: pd.Series | np.ndarray,
    *,
    na_tokens: Sequence[str] = NA_TOKENS,
    decimal: str = ".",
    where: DataRows = DATA_ROWS,
    unshown: str = ",",
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, Marks | Reading | None]:
    """A column read as ``classify`` reads it, but never refused for what a cell holds: each
    cell as a number (NaN where it is text or missing), as stripped text (None for a column of a
    numeric dtype, whose cells are all numbers), which are missing, and in a file of decimal
    commas how its numbers were read: the ``Reading``, or the ``Marks`` of a column needing both
    decimal marks. Predict's target only scores: a cell the model cannot score leaves its row
    out of the score, and never stops the predictions."""
    if (numbers := _number_dtype(values)) is not None:
        parsed = _parsed_reading(name, numbers, unshown=unshown) if decimal == "," else None
        return numbers, None, np.isnan(numbers), parsed
    text, missing = _stripped(values, na_tokens)
    read: Marks | Reading | None
    try:
        numbers, read = _numbers(name, text, missing, decimal=decimal, where=where, unshown=unshown)
    except InvalidUpload:  # both decimal marks: upload's refusal, and the target only scores
        numbers, read = one_mark(text, missing)
    text[missing] = None
    return numbers, composed(text), missing, read


def _number_dtype(values: pd.Series | np.ndarray) -> np.ndarray | None:
    """A pandas column of a numeric dtype (not bool) as float64, NaN for missing; else None."""
    if isinstance(values, np.ndarray):
        return None
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return None


def _stripped(
    values: pd.Series | np.ndarray, na_tokens: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Every cell as stripped text (a boolean as ``boolean`` writes it; None for a null), and
    which are missing (null or a missing-value token)."""
    stripped = np.array(
        [None if v is None else boolean(str(v).strip()) for v in objects(values)], dtype=object
    )
    missing = np.array([v is None or v in na_tokens for v in stripped], dtype=bool)
    return stripped, missing


def _numbers(
    name: str,
    stripped: np.ndarray,
    missing: np.ndarray,
    *,
    decimal: str,
    where: DataRows,
    unshown: str = ",",
) -> tuple[np.ndarray, Reading | None]:
    """float64 of the present cells that read as numbers with ``decimal`` (NaN for the others),
    and, in a file of decimal commas, how they were read (``decimal_comma_numbers``)."""
    if decimal == ",":
        return decimal_comma_numbers(name, stripped, missing, where=where, unshown=unshown)
    return to_numbers(stripped, missing), None


def _parsed_reading(name: str, numbers: np.ndarray, *, unshown: str) -> Reading:
    """How a column pandas parsed as numbers with a file's decimal comma was read: a number with
    a fraction was written with a comma (``3,14``); whole numbers read alike with either mark."""
    fraction = np.flatnonzero(np.isfinite(numbers) & (numbers != np.round(numbers)))
    if not fraction.size:
        return Reading(unshown)
    row = int(fraction[0])
    return Reading(",", Evidence(",", name, row, label(float(numbers[row]), decimal=",")))


def shown_mark(
    name: str, values: pd.Series | np.ndarray, na_tokens: Sequence[str] = NA_TOKENS
) -> Evidence | None:
    """A value of a decimal-comma file's column that reads only with one decimal mark, where the
    column is of numbers that show that mark alone (``classify``'s ``Reading.shown``, never
    refused): a column that predict only scores, counted in ``file_mark``."""
    if (numbers := _number_dtype(values)) is not None:
        return _parsed_reading(name, numbers, unshown=",").shown
    stripped, missing = _stripped(values, na_tokens)
    try:
        numbers, reading = decimal_comma_numbers(name, stripped, missing)
    except InvalidUpload:  # both marks
        return None
    return None if (~missing & np.isnan(numbers)).any() else reading.shown  # text shows none


def composed(text: np.ndarray) -> np.ndarray:
    """Text values (None for missing) in Unicode's composed form, NFC, as column names are
    (``header.same_name``): ``größe`` written with a combining diaeresis is the category
    ``größe``. Each distinct value is looked at once; the cells are rewritten only when one
    of them changes."""
    changed = {
        v: unicodedata.normalize("NFC", v)
        for v in set(text.tolist())
        if v is not None and not v.isascii() and not unicodedata.is_normalized("NFC", v)
    }
    if not changed:
        return text
    return np.array([changed.get(v, v) for v in text.tolist()], dtype=object)


def composed_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """A model's stored categories or class labels in NFC, as ``composed`` reads the values that
    bind to them (a model saved before values were composed may hold another form); as stored
    if two of them are one text composed."""
    normal = tuple(unicodedata.normalize("NFC", c) for c in levels)
    return normal if len(set(normal)) == len(normal) else tuple(levels)


def _numeric(
    name: str, numbers: np.ndarray, *, allow_empty: bool = False, where: DataRows = DATA_ROWS
) -> Column:
    missing = np.isnan(numbers)
    if missing.all() and not allow_empty:
        raise InvalidUpload(f"column {name!r} is empty in every row")
    bad = ~missing & ~(np.abs(np.nan_to_num(numbers, nan=0.0)) <= MAX_ABS_VALUE)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidUpload(
            f"column {name!r} has a value out of range at {where(row)} "
            f"({float(numbers[row])!r}; |x| must be ≤ {MAX_ABS_VALUE:g})"
        )
    return Column(name, numbers, None, missing)


def boolean(text: str) -> str:
    """``true``, ``TRUE``... as ``True`` (and ``False``); any other text as it is."""
    return BOOLEANS.get(text.lower(), text) if len(text) in (4, 5) else text


def bind(values: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Each value (text, None for missing) as the category it means: itself, else the category
    that means the same boolean (``1`` for ``True`` where the model's categories are 0/1,
    ``True`` for ``1`` where they are booleans, ``True`` for ``true``); a value that means none
    stays as it is."""
    meaning = {t: c for c in categories if (t := _truth(c)) is not None}
    if not meaning:
        return values
    known = set(categories)
    out = values.copy()
    for i, v in enumerate(values):
        if v is not None and v not in known and (t := _truth(v)) is not None:
            out[i] = meaning.get(t, v)
    return out


def _truth(text: str) -> str | None:
    return TRUTH.get(boolean(text))


def booleans_as_numbers(column: Column) -> np.ndarray | None:
    """A text column of booleans as 1.0 / 0.0 (NaN for missing), for a model that learned the
    column as numbers (a Parquet bool before booleans were text); None for other text."""
    if column.text is None:
        return None
    present = column.text[~column.missing]
    if not all(v in ("True", "False") for v in present):
        return None
    out = np.full(len(column.text), np.nan)
    out[~column.missing] = [1.0 if v == "True" else 0.0 for v in present]
    return out


def label(value: Any, *, decimal: str = ".") -> str:
    """A class label or category as text: an integral number without its ``.0``, another with
    ``decimal`` as its decimal mark."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float) and decimal != ".":
        return str(value).replace(".", decimal)
    return str(value)
