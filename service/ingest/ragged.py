"""Rows whose fields are not as many as the header's, found before any row is parsed."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np

from regtune.service.ingest.dialects import SHORT_LINES, NumberedRows, ShortRows, long_row, spaces


@dataclasses.dataclass(frozen=True)
class Ragged:
    """The data rows of a CSV file whose fields are not as many as its header's (``width``), as
    the readers read them (blank lines and lines of spaces no rows), up to the last row they
    read: each one's fields and the line (of the file, from 1) it starts on. A row a quote
    never closed is not among them: the readers refuse it (``unclosed_quote``)."""

    width: int
    fields: np.ndarray
    lines: np.ndarray

    def check(self, *, sep: str) -> None:
        """Refuse the first row with more fields than the header (``long_row``) before any row
        is read: where the first row has more, pandas reads each row's first fields as a row
        index, every column shifted."""
        over = np.flatnonzero(self.fields > self.width)
        if len(over):
            row = over[0]
            raise long_row(int(self.lines[row]), int(self.fields[row]), self.width, sep=sep)

    def short(self, width: int) -> ShortRows:
        """The rows with fewer than ``width`` fields (at most the header's), which the readers
        pad with missing cells."""
        found = np.flatnonzero(self.fields < width)
        return ShortRows(len(found), tuple(int(line) for line in self.lines[found[:SHORT_LINES]]))


def ragged_rows(body: bytes, width: int, *, sep: str, max_rows: int, before: int) -> Ragged:
    """The rows of ``body`` (CSV bytes, header first, ``before`` lines after the file's start)
    without ``width`` fields (``Ragged``), of the ``max_rows + 1`` the readers read at most
    (``Limits.rows_read``).

    Counted on the bytes with numpy, a few passes whatever the rows: between double quotes a
    separator or a line end is text, and where every quote opens or closes a field (or is
    one of a doubled pair) a byte is inside quotes exactly when an odd number of quotes come
    before it. A file with quotes elsewhere (``5"`` for inches), or with a line ended by a CR
    alone among lines ended otherwise (the readers end a line there too), is counted by the
    csv module."""
    raw = np.frombuffer(body, dtype=np.uint8)
    if b"\r" in body:
        returns = np.flatnonzero(raw[:-1] == ord("\r"))
        if (raw[returns + 1] != ord("\n")).any():
            return _ragged_rows_read(body, width, sep=sep, max_rows=max_rows, before=before)
    ends, seps = raw == ord("\n"), raw == ord(sep)
    unclosed = False
    if b'"' in body:
        quotes = np.flatnonzero(raw == ord('"'))
        if not _quotes_delimit(raw, quotes, sep):
            return _ragged_rows_read(body, width, sep=sep, max_rows=max_rows, before=before)
        inside = np.cumsum(raw == ord('"'), dtype=np.uint8)
        np.bitwise_and(inside, 1, out=inside)
        outside = inside.view(bool) == 0
        ends, seps = ends & outside, seps & outside
        unclosed = len(quotes) % 2 == 1  # the last row runs on inside a quote to the end
    stops = np.flatnonzero(ends)
    if not len(stops) or stops[-1] != len(raw) - 1:
        stops = np.append(stops, len(raw) - 1)  # the last row has no line end
    starts = np.concatenate(([0], stops[:-1] + 1))
    fields = np.add.reduceat(seps.view(np.uint8), starts, dtype=np.int64) + 1
    content = stops + 1 - ends[stops]  # where each row's text ends, its line end left out
    content -= (content > starts) & (raw[np.maximum(content - 1, 0)] == ord("\r"))
    rows = np.flatnonzero(content > starts)
    rows = rows[1 : len(rows) - unclosed][: max_rows + 1]  # the header is no data row
    found = rows[fields[rows] != width]
    if len(found) and (fields[found] == 1).any():  # a line of spaces (and tabs) is no row
        blank = np.isin(raw, list(spaces(sep).encode())).view(np.uint8)
        blanks = np.add.reduceat(blank, starts, dtype=np.int64)
        found = found[blanks[found] < content[found] - starts[found]]
    lines = np.searchsorted(np.flatnonzero(raw == ord("\n")), starts[found]) + 1 + before
    return Ragged(width, fields[found], lines)


def _quotes_delimit(raw: np.ndarray, quotes: np.ndarray, sep: str) -> bool:
    """Every quote opens a field (after a separator, a line end, spaces or the quote it
    doubles) or closes one (before a separator, a line end, spaces or the quote it doubles)."""
    opening, closing = quotes[0::2], quotes[1::2]
    before = raw[np.maximum(opening - 1, 0)]
    after = raw[np.minimum(closing + 1, len(raw) - 1)]
    opens = (opening == 0) | np.isin(before, list(b'\n "' + sep.encode()))
    closes = (closing == len(raw) - 1) | np.isin(after, list(b'\r\n "' + sep.encode()))
    return bool(opens.all() and closes.all())


def _ragged_rows_read(body: bytes, width: int, *, sep: str, max_rows: int, before: int) -> Ragged:
    """``ragged_rows`` by the csv module, reading the rows as ``csv_rows`` does without pandas,
    up to a row it cannot read (the reader names it, after any row counted before it)."""
    fields: list[int] = []
    lines: list[int] = []
    numbered = NumberedRows(body.decode("utf-8"), sep)
    rows = 0
    try:
        for number, (start, row, blank) in enumerate(numbered):
            if numbered.unclosed or rows > max_rows:
                break
            if number == 0 or blank:  # the header; a blank line is no row
                continue
            rows += 1
            if len(row) != width:
                fields.append(len(row))
                lines.append(start + before)
    except csv.Error:
        pass  # the reader names the row it cannot read
    return Ragged(width, np.array(fields, dtype=np.int64), np.array(lines, dtype=np.int64))
