"""A CSV file's data rows → columns: pandas' C parser, or the csv module without pandas."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.dialects import (
    UNCLOSED,
    NumberedRows,
    RowLines,
    long_row,
    unclosed_quote,
)
from regtune.service.ingest.header import Limits

_LINE = re.compile(r"\b(line|string starting at row) ([0-9]+)")
"""Where pandas' parser errors say a row is: its record, counted from the header (``line``
from 1, ``row`` from 0), line ends inside quotes not counted."""


def read_rows(
    body: bytes,
    width: int,
    limits: Limits,
    *,
    sep: str,
    decimal: str,
    na: Sequence[str],
    where: RowLines,
) -> list[Any]:
    """Every column of the data rows (``body`` starts with the header line, ``where`` says
    where each starts): pandas' C parser with ``decimal``, or without pandas the csv module's
    text cells; a row that cannot be read is named by its line in the file."""
    before = where.before
    try:
        import pandas as pd
    except ModuleNotFoundError:
        return _read_csv_cells(body, width, limits, sep=sep, where=where)
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            skiprows=1,
            sep=sep,
            decimal=decimal,
            names=list(range(width)),
            index_col=False,  # never the first fields of a long row as an index (``ragged.Ragged``)
            keep_default_na=False,
            na_values=list(na),
            skipinitialspace=True,
            engine="c",
            encoding="utf-8",
            nrows=limits.rows_read,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=list(range(width)))
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        message = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        message = _LINE.sub(lambda m: _at_line(body, m, sep=sep, before=before), message)
        if message.startswith(UNCLOSED) and message[len(UNCLOSED) :].isdigit():
            raise unclosed_quote(int(message[len(UNCLOSED) :])) from None
        raise InvalidUpload(f"the CSV cannot be parsed: {message}") from None
    return [frame[i] for i in range(width)]


def _at_line(body: bytes, said: re.Match[str], *, sep: str, before: int) -> str:
    """pandas' ``line L`` or ``string starting at row N``, said as the line of the file the
    record starts on (from 1, ``before`` lines before ``body``'s header)."""
    line = said[1] == "line"
    start = _start_line(body, int(said[2]) + (0 if line else 1), sep=sep) + before
    return f"{'line' if line else 'string starting at line'} {start}"


def _start_line(body: bytes, record: int, *, sep: str) -> int:
    """The line of ``body`` (from 1) that its ``record``-th row starts on, the header the first
    and a blank line a row, as pandas counts them."""
    rows = NumberedRows(body.decode("utf-8"), sep)
    try:
        for number, (start, _, _) in enumerate(rows, start=1):
            if number >= record:
                return start
    except csv.Error:
        pass
    return rows.start


def _read_csv_cells(
    raw: bytes, width: int, limits: Limits, *, sep: str, where: RowLines
) -> list[np.ndarray]:
    """The data rows of CSV bytes (header first) as text columns, without pandas, each row's
    start line told to ``where``: the csv module's dialect is pandas' default one (``sep``,
    double quotes, text after a closing quote part of the field, a field of any length); blank
    lines and lines of spaces and tabs are skipped, as pandas skips them, a short row is padded
    with missing cells (the notes count them: ``_short_rows``), a long one and a quote never
    closed are refused naming the line in the file they start on."""
    numbered = NumberedRows(raw.decode("utf-8"), sep)
    rows: list[list[str | None]] = []
    before = where.before
    where.reset()
    try:
        for number, (start, row, blank) in enumerate(numbered):
            if numbered.unclosed:
                raise unclosed_quote(start + before)
            if number == 0 or blank:  # the header, read by the caller; a blank line is no row
                continue
            if len(row) > width:
                raise long_row(start + before, len(row), width, sep=sep)
            where.add(len(rows), start)
            rows.append([*row, *[None] * (width - len(row))])
            if len(rows) > limits.max_rows:
                break
    except csv.Error as exc:
        said = f"the CSV cannot be parsed: {exc} (line {numbered.start + before})"
        raise InvalidUpload(said) from None
    where.known = True
    table = np.array(rows, dtype=object).reshape(len(rows), width)
    return [table[:, j] for j in range(width)]
