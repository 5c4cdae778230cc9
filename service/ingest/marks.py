"""Which decimal mark a table's numbers are written with, where its format does not say.

A comma file is read with decimal points and a semicolon file with decimal commas, by their
separators. A tab-separated file (a copy from a spreadsheet) and a pandas DataFrame of text say
nothing: they are read with one mark (decimal points; at predict, the mark of the model's
training file) unless a column of numbers holds a value that reads only with the other
(``3,14``, ``0,274`` or ``1.234,5``; ``3.14``, ``0.857`` or ``1,234.5``), and a table that holds
both is refused, never guessed: ``1,234`` is 1234 with decimal points and 1.234 with decimal
commas. A first group of thousands never starts with a zero (``0,274``, ``-0,007``, ``00,123``
and ``0.857`` are no grouping), so such a value shows its decimal mark.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.dialects import DATA_ROWS, DataRows

FIRST_GROUP = "[1-9][0-9]{0,2}"
"""The digits before a number's first thousands mark: no grouping writes a leading zero there
(``0,274`` and ``0.857`` are decimals, never 274 and 857)."""
GROUPED = re.compile(rf"[+-]?{FIRST_GROUP}(,[0-9]{{3}})+(\.[0-9]*)?")
"""A number with its thousands grouped by commas, as spreadsheets write them: ``-1,234,567.8``."""
DECIMAL_COMMA = re.compile(
    rf"[+-]?(?:{FIRST_GROUP}(?:(?P<g>[. \u00a0\u202f])[0-9]{{3}})(?:(?P=g)[0-9]{{3}})*(?:,[0-9]+)?"
    r"|(?:[0-9]+|[0-9]*,[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
"""A number as a semicolon file writes it: a decimal comma, thousands grouped by one of ``.``,
a space or a no-break space (``-1.234.567,8``, ``1 234,5``, ``3,14``, ``12``), or an exponent
without grouping (``4,2e-05``)."""
GROUP_MARKS = (".", " ", "\u00a0", "\u202f")
MARKS = {".": "a decimal point", ",": "a decimal comma"}
RULE = (
    "a tab-separated file or a DataFrame of text is read with decimal points (at predict, with "
    "the decimal mark of the model's training file) unless a column of numbers holds a value "
    "that reads only with the other mark"
)


def reads_with_point(text: str) -> bool:
    """``text`` is a number with a decimal point (``3.14``, ``1e5``, ``1,234.5``)."""
    if GROUPED.fullmatch(text):
        return True
    if "_" in text or not text.isascii() or not any(ch.isdigit() for ch in text):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


SYMBOLS = re.compile(
    r"'?(?P<pre>[$€£¥]\s?)?(?P<num>[+\-\u2212]?[0-9][0-9., \u00a0]*)(?P<post>\s?[%€$£¥])?"
)
"""A number as a spreadsheet shows it: a currency sign, a percent sign, a leading apostrophe
(Excel's mark of a number kept as text) or a typographic minus (``$1,234.50``, ``12 %``,
``1.234,50 €``, ``'0042``, ``−3``)."""


def shown_number(text: str) -> bool:
    """``text`` is a number with a currency or percent sign, a leading apostrophe or a
    typographic minus: a number as a spreadsheet shows it, which no reader takes as one."""
    found = SYMBOLS.fullmatch(text)
    if found is None or reads_with_point(text) or reads_with_comma(text):
        return False
    number = found["num"].replace("\u2212", "-").strip()
    return reads_with_point(number) or reads_with_comma(number)


NA_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "?", "#N/A")
"""Cells read as missing values, in CSV and in Parquet text columns (``#N/A``: a spreadsheet's
own missing value, as pandas reads it)."""
NA_WORDS = "an empty cell, " + ", ".join(NA_TOKENS[1:-1]) + f" and {NA_TOKENS[-1]}"
"""``NA_TOKENS`` in words, as messages and help list the built-in missing values."""
MISSING_MARKS = frozenset({"-", "--", "---", "\u2013", "\u2014", ".", "n.a.", "N.A.", "n/d", "#NA"})
"""Cells that mark a missing value in many tables but are not read as one unless the upload
declares them (``missing_values``; ``-`` is also a sign), named in the refusal."""
WORD = re.compile(r"[^\W\d_][\w .'/-]{0,39}")
"""Text that starts with a letter, of at most 40 characters: a mark an upload may declare."""
SPREADSHEET_ERROR = re.compile(r"#(?:DIV/0!|VALUE!|REF!|NAME\?|NUM!|NULL!|N/A|SPILL!|CALC!)")


def text_hint(text: str) -> str:
    """Why a value among numbers is text, when a spreadsheet wrote it so ('' otherwise)."""
    if SPREADSHEET_ERROR.fullmatch(text):
        return (
            f"; {text!r} is a spreadsheet's error value: fix the formula, or leave the cell "
            "empty for a missing value"
        )
    if text in MISSING_MARKS:
        return (
            f"; if {text!r} marks a missing value, declare it when uploading (missing_values="
            f"{text!r}, --missing-value {text!r}; a model reads the marks its upload declared), "
            f"or leave the cell empty or write NA (the marks read without it: {NA_WORDS})"
        )
    if shown_number(text):
        return (
            f"; {text!r} is a number as a spreadsheet shows it (a currency or percent sign, a "
            "leading apostrophe or a typographic minus): save the column as plain numbers"
        )
    if WORD.fullmatch(text) and text.lower() not in ("true", "false"):
        return (
            f"; if {text!r} marks a missing value, declare it when uploading (missing_values="
            f"{text!r}, --missing-value {text!r}), else correct the cell"
        )
    return ""


def reads_with_comma(text: str) -> bool:
    """``text`` is a number with a decimal comma (``3,14``, ``1.234,5``, ``12``)."""
    return DECIMAL_COMMA.fullmatch(text) is not None


@dataclass(frozen=True)
class Evidence:
    """A value that reads as a number only with ``mark``, in a column of numbers."""

    mark: str
    column: str
    row: int
    text: str

    def said(self, where: DataRows) -> str:
        """The value, its column and its row as ``where`` names it."""
        return f"{self.text!r} in column {self.column!r} at {where(self.row)}"


def only_with(
    mark: str, names: Sequence[str], columns: Sequence[Any], na_tokens: Sequence[str]
) -> Evidence | None:
    """The first value that reads as a number only with ``mark`` in a column whose present
    values are all numbers (either mark); a column of text (``3,5`` as a size) shows nothing."""
    reads, other = reads_with_point, reads_with_comma
    if mark == ",":
        reads, other = other, reads
    tokens = set(na_tokens)
    for name, values in zip(names, columns, strict=True):
        kind = getattr(getattr(values, "dtype", None), "kind", "O")
        if kind in "biufc":
            continue  # parsed as numbers already: no value reads only with another mark
        found: Evidence | None = None
        for row, value in enumerate(np.asarray(values, dtype=object)):
            if not isinstance(value, str):
                continue  # missing, or a number already
            text = value.strip()
            if text in tokens:
                continue
            if not (reads(text) or other(text)):
                found = None
                break  # text: not a column of numbers
            if found is None and not other(text):
                found = Evidence(mark, name, row, text)
        if found is not None:
            return found
    return None


def choose(
    read: Callable[[str], Sequence[Any]],
    names: Sequence[str],
    *,
    first: str,
    na_tokens: Sequence[str],
    where: DataRows = DATA_ROWS,
) -> tuple[str, Sequence[Any]]:
    """The decimal mark a table is read with and its columns read so: ``read(mark)`` gives the
    columns read with ``mark``; ``first`` unless a column of numbers shows the other, and a
    table whose columns show both is refused naming a value of each (its row as ``where``
    names it)."""
    columns = read(first)
    other = "," if first == "." else "."
    shown = only_with(other, names, columns, na_tokens)
    if shown is None:
        return first, columns
    columns = read(other)
    back = only_with(first, names, columns, na_tokens)
    if back is None:
        return other, columns
    comma, point = (shown, back) if other == "," else (back, shown)
    raise InvalidUpload(
        f"the numbers are written with decimal commas, as {comma.said(where)}, and with "
        f"decimal points, as {point.said(where)}, so the thousands in a value such as '1,234' "
        f"cannot be told ({RULE}); write every number with one decimal mark, or save the file with "
        "semicolons and decimal commas"
    )
