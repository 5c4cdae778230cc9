"""CSV and Parquet bytes → named columns, read safely and checked before anything is parsed.

No pickle and no eval: CSV goes to pandas' C parser with every cell as text or number (a
leading ``=`` is just a character), Parquet to pyarrow after its schema is checked (``parquet``).
Where pandas is not installed (``pip install regtune`` without extras, for ``regtune predict``),
CSV goes to Python's csv module instead, every cell as text for ``values.classify`` to read as
upload does; Parquet then needs pandas and pyarrow. Binary garbage, JSON, other encodings,
overlong lines, too many columns and duplicate or missing names are refused up front, each with
the byte, line or column at fault (``header``); how a CSV file is separated is ``dialects``'.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest import marks
from regtune.service.ingest.dialects import (
    COMMAS,
    SEP_LINE,
    SHORT_LINES,
    SNIFF_LINES,
    UNCLOSED,
    Dialect,
    NumberedRows,
    RowLines,
    ShortRows,
    allow_fields,
    long_row,
    named_dialect,
    sniff_dialect,
    spaces,
    unclosed_quote,
)
from regtune.service.ingest.encodings import (
    BOM,
    UTF8,
    UTF16,
    check_encoding,
    encoding_problem,
    in_order,
    neither,
    not_utf8,
    to_utf8,
    utf16_order,
)
from regtune.service.ingest.header import (
    Limits,
    check_header,
    column_name,
    ignored,
    unnamed_columns,
)
from regtune.service.ingest.marks import NA_TOKENS
from regtune.service.ingest.parquet import read_parquet

if TYPE_CHECKING:
    import pandas as pd

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_LINE = re.compile(r"\b(line|string starting at row) ([0-9]+)")
"""Where pandas' parser errors say a row is: its record, counted from the header (``line``
from 1, ``row`` from 0), line ends inside quotes not counted."""


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:4096]
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the edge
    return True


def _looks_like_json(raw: bytes) -> bool:
    """JSON, which the CSV reader would split at its commas into a header of hundreds of
    "columns": a first line that parses as JSON (a file on one line, or JSON Lines' first
    record), or that opens an array or object alone (a file written with indents)."""
    text = raw.removeprefix(BOM).lstrip()
    if text[:1] not in (b"[", b"{"):
        return False
    first = text.split(b"\n", 1)[0].strip()
    if first in (b"[", b"{"):
        return True
    try:
        json.loads(first)
    except ValueError:
        return False
    return True


def detect_format(raw: bytes, filename: str) -> str:
    if raw.startswith(PARQUET_MAGIC):
        return "parquet"
    if _looks_like_json(raw):
        raise InvalidUpload(
            "the file is JSON, not CSV or Parquet: tables are read from CSV (a header of column "
            "names, then a line per row, separated by ',', ';' or tabs) or Parquet; save it as "
            "one of them (pandas: pd.read_json(path).to_csv('data.csv', index=False), with "
            "lines=True for JSON Lines)"
        )
    if filename.lower().endswith(PARQUET_SUFFIXES):
        looks = "; it looks like CSV text" if _looks_like_text(raw) else ""
        raise InvalidUpload(
            f"{filename} is not a Parquet file: it does not start with the PAR1 magic bytes{looks}"
        )
    return "csv"


@dataclasses.dataclass
class LooksBinary(InvalidUpload):
    """A file read as CSV whose text, once decoded, holds a NUL (a model file, an image): no
    text in any encoding it was read with (UTF-16's NULs beside Latin letters decode away)."""

    said: str = ""
    """Where the NUL is: a byte's offset in a UTF-8 file, a character's in text decoded from
    another encoding (whose bytes hold NULs of ordinary text)."""


def _check_text(raw: bytes, limits: Limits, *, encoding: str = UTF8) -> None:
    """Refuse UTF-8 text (``raw``, read in ``encoding``) holding a NUL, or a line too long."""
    nul = raw.find(b"\0")
    if nul >= 0:
        said = f"a NUL byte at offset {nul}"
        if encoding != UTF8:
            said = f"read as {encoding} text, its character {len(raw[:nul].decode()) + 1} is a NUL"
        raise LooksBinary(f"the file looks binary ({said}); send CSV text or Parquet", said=said)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(raw, exc.start) from None
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate(([-1], ends, [len(raw)]))
    lengths = np.diff(bounds) - 1
    longest = int(np.argmax(lengths))
    if lengths[longest] > limits.max_line_bytes:
        raise InvalidUpload(
            f"line {longest + 1} is {int(lengths[longest])} bytes long; at most "
            f"{limits.max_line_bytes} bytes per line (REGTUNE_DATASET_MAX_LINE_BYTES)"
        )


def _not_utf8(raw: bytes, otherwise: str) -> bool:
    """Bytes that are not UTF-8 text, so read with the training file's encoding ``otherwise``:
    they do not decode as UTF-8, or, where that is UTF-16, they look like UTF-16 without a
    byte-order mark (a NUL beside each Latin letter, which UTF-8 decodes as NUL bytes)."""
    try:
        raw.decode(UTF8)
    except UnicodeDecodeError:
        return True
    return otherwise.startswith(UTF16) and utf16_order(raw) is not None


def _head(raw: bytes, lines: int) -> bytes:
    """The first ``lines`` lines of ``raw`` (all of it when it has no more)."""
    end = -1
    for _ in range(lines):
        end = raw.find(b"\n", end + 1)
        if end < 0:
            return raw
    return raw[: end + 1]


def _check_delimiter(header: list[str]) -> None:
    """Refuse a header of one column that holds a pipe, a delimiter that is not read (a tab
    would have split it: ``sniff_dialect``)."""
    if len(header) != 1:
        return
    if "|" in header[0]:
        raise InvalidUpload(
            f"the header is one column ({header[0][:40]!r}), so the file looks delimited by "
            "pipes: use commas, semicolons or tabs"
        )


def read_csv(
    raw: bytes,
    *,
    target: str | None,
    limits: Limits,
    na_tokens: Sequence[str] = NA_TOKENS,
    ignore: Collection[str] = (),
    only: Collection[str] | None = None,
    encoding: str | None = None,
    otherwise: str = UTF8,
    decimal: str = ".",
) -> tuple[list[str], list[pd.Series] | list[np.ndarray], Dialect]:
    """Named columns of CSV bytes but the ``ignore``d ones (with ``only``, every column not
    among it too: ``ignored``), and how the file is written (``sniff_dialect``); ``target``
    (when given) and each ignored name must be columns of the file. A row with more fields than
    the header is refused before any row is read, naming its line (``_Ragged``: where the first
    row has more, pandas reads every row's first fields as a row index). pandas reads a
    semicolon file's plain decimal commas (``3,14``); ``values`` reads the rest (grouped
    thousands, a column written with decimal points).

    The bytes are text in ``encoding`` (UTF-8 when None; then, for bytes that are not UTF-8
    text, ``otherwise``: the encoding a model's training file was read with, ``_not_utf8``;
    UTF-16 without a byte-order mark in the byte order its start shows, ``in_order``). A
    tab file is read with ``decimal`` unless its numbers show the other mark
    (``marks.choose``)."""
    used = check_encoding(encoding)
    if encoding is None and otherwise != UTF8 and _not_utf8(raw, otherwise):
        used = check_encoding(in_order(raw, otherwise))
        try:
            raw = to_utf8(raw, used)
        except InvalidUpload:
            raise neither(raw, used) from None
    else:
        raw = to_utf8(raw, used)
    if b"\r" in raw and b"\n" not in raw:  # lines ended by CR alone: Excel's CSV (Macintosh)
        raw = raw.replace(b"\r", b"\n")
    _check_text(raw, limits, encoding=used)
    allow_fields(len(raw))
    text_start = 3 if raw.startswith(BOM) else 0
    first = _line(raw, text_start)
    named = SEP_LINE.fullmatch(first.rstrip("\r"))
    if named is not None:  # Excel's own line naming the separator
        text_start += len(first.encode()) + 1
        first = _line(raw, text_start)
    if not first.strip():
        raise _no_header(raw[text_start:], named)
    if named is not None:
        dialect = named_dialect(named[1])
    else:
        head = _head(raw[text_start:], SNIFF_LINES + 1)
        dialect = sniff_dialect(head.decode("utf-8"), complete=len(head) == len(raw) - text_start)
    dialect = dataclasses.replace(dialect, encoding=used)
    body = raw[text_start:]
    before = 1 if named is not None else 0  # the sep= line, before the header
    header = _header(first, body, sep=dialect.sep, before=before)
    names = [column_name(n, i) for i, n in enumerate(header)]
    _check_delimiter(header)
    ignore = ignored(names, ignore=ignore, only=only)
    unnamed = unnamed_columns(header)
    check_header(names, target=target, limits=limits, ignore=ignore, unnamed=unnamed)
    kept = [i for i, name in enumerate(names) if name not in ignore]
    ragged = _ragged_rows(
        body, len(names), sep=dialect.sep, max_rows=limits.max_rows, before=before
    )
    ragged.check(sep=dialect.sep)
    where = RowLines(body, sep=dialect.sep, before=before)
    dialect = dataclasses.replace(dialect, where=where)

    def read(mark: str) -> list[Any]:
        columns = _read_body(
            body, len(names), limits, sep=dialect.sep, decimal=mark, na=na_tokens, where=where
        )
        return [columns[i] for i in kept]

    kept_names = [names[i] for i in kept]
    columns: Sequence[Any]
    if dialect.sep != "\t":
        columns = read(dialect.decimal)
    else:
        mark, columns = marks.choose(
            read, kept_names, first=decimal, na_tokens=na_tokens, where=where
        )
        dialect = dataclasses.replace(dialect, decimal=mark)
    blank = [
        j
        for j, (i, values) in enumerate(zip(kept, columns, strict=True))
        if not header[i].strip() and _empty(values, na_tokens)
    ]
    left_out = [kept[j] for j in blank]  # as a spreadsheet's formatted empty cells are
    width = max((i for i in range(len(names)) if i not in left_out), default=0) + 1
    given = tuple(i + 1 for i in sorted(unnamed) if i in kept and i not in left_out)
    dialect = dataclasses.replace(dialect, short=ragged.short(width), unnamed=given)
    if not blank:
        return kept_names, list(columns), dialect
    dialect = dataclasses.replace(dialect, blank=tuple(kept[j] + 1 for j in blank))
    left = [j for j in range(len(kept)) if j not in blank]
    return [kept_names[j] for j in left], [columns[j] for j in left], dialect


def _no_header(rest: bytes, named: re.Match[str] | None) -> InvalidUpload:
    """The refusal of a file whose header line is empty: its first line, or the line after its
    ``sep=`` line (``named``), when ``rest`` (the file from that line on) holds more."""
    if named is None:
        return InvalidUpload("the first line is empty; it must be the header with column names")
    if not rest.strip():
        return InvalidUpload(
            f"the file has no header after its {named[0]} line; the header with column names "
            "must follow it"
        )
    return InvalidUpload(
        f"line 2, after the {named[0]} line, is empty; it must be the header with column names"
    )


def _header(first: str, body: bytes, *, sep: str, before: int) -> list[str]:
    """The header's cells: its first line (``first``) read as CSV, or, where a quote opened
    there is not closed on it, the record it starts, as the readers read it (a name holding a
    line end, which ``check_header`` refuses); a quote never closed is refused naming the
    header's line (``before`` lines after the file's start), as the readers refuse one in a row
    (it swallowed every row: the file read as a header and no data rows)."""
    line = first.rstrip("\r")
    try:
        header = next(csv.reader([line], delimiter=sep))
    except csv.Error as exc:
        raise InvalidUpload(f"the header line cannot be read as CSV: {exc}") from None
    alone = NumberedRows(line, sep)
    next(iter(alone), None)
    if not alone.unclosed:
        return header
    rows = NumberedRows(body.decode("utf-8"), sep)
    try:
        _, record, _ = next(iter(rows))
    except csv.Error as exc:
        raise InvalidUpload(f"the header cannot be read as CSV: {exc}") from None
    if rows.unclosed:
        raise unclosed_quote(1 + before)
    return record


@dataclasses.dataclass(frozen=True)
class _Ragged:
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


def _ragged_rows(body: bytes, width: int, *, sep: str, max_rows: int, before: int) -> _Ragged:
    """The rows of ``body`` (CSV bytes, header first, ``before`` lines after the file's start)
    without ``width`` fields (``_Ragged``), of the ``max_rows + 1`` the readers read at most
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
    return _Ragged(width, fields[found], lines)


def _quotes_delimit(raw: np.ndarray, quotes: np.ndarray, sep: str) -> bool:
    """Every quote opens a field (after a separator, a line end, spaces or the quote it
    doubles) or closes one (before a separator, a line end, spaces or the quote it doubles)."""
    opening, closing = quotes[0::2], quotes[1::2]
    before = raw[np.maximum(opening - 1, 0)]
    after = raw[np.minimum(closing + 1, len(raw) - 1)]
    opens = (opening == 0) | np.isin(before, list(b'\n "' + sep.encode()))
    closes = (closing == len(raw) - 1) | np.isin(after, list(b'\r\n "' + sep.encode()))
    return bool(opens.all() and closes.all())


def _ragged_rows_read(body: bytes, width: int, *, sep: str, max_rows: int, before: int) -> _Ragged:
    """``_ragged_rows`` by the csv module, reading the rows as ``_read_csv_cells`` does, up to
    a row it cannot read (the reader names it, after any row counted before it)."""
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
    return _Ragged(width, np.array(fields, dtype=np.int64), np.array(lines, dtype=np.int64))


def _empty(values: Any, na_tokens: Sequence[str]) -> bool:
    """Every cell missing: null (pandas read it so) or a missing-value token."""
    tokens = set(na_tokens)
    return all(
        v is None
        or (isinstance(v, float) and v != v)
        or (isinstance(v, str) and v.strip() in tokens)
        for v in np.asarray(values, dtype=object)
    )


def _line(raw: bytes, start: int) -> str:
    end = raw.find(b"\n", start)
    return raw[start : end if end >= 0 else len(raw)].decode("utf-8")


def _read_body(
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
            index_col=False,  # never the first fields of a long row as an index (``_Ragged``)
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


def read_columns(
    raw: bytes,
    filename: str,
    *,
    target: str | None,
    limits: Limits,
    na_tokens: Sequence[str] = NA_TOKENS,
    ignore: Collection[str] = (),
    only: Collection[str] | None = None,
    encoding: str | None = None,
    otherwise: str = UTF8,
    decimal: str = ".",
) -> tuple[list[str], list[pd.Series] | list[np.ndarray], Dialect]:
    """Named columns of a CSV or Parquet file (``detect_format``) but the ``ignore``d ones, and
    how the file is written (``COMMAS`` for Parquet, whose numbers are numbers and whose text
    is UTF-8). With ``only`` (predict: a model's columns), every other column is left out as an
    ignored one is: never read, checked or counted, so it neither chooses a tab file's decimal
    mark nor meets a limit. ``encoding``, ``otherwise`` and ``decimal`` as ``read_csv`` takes
    them."""
    if detect_format(raw, filename) == "parquet":
        if check_encoding(encoding) != UTF8:
            raise encoding_problem(
                f"applies to CSV text; a Parquet file's text is UTF-8 by its format, got "
                f"{encoding!r}"
            )
        names, values, unnamed = read_parquet(
            raw, target=target, limits=limits, ignore=ignore, only=only
        )
        return names, values, dataclasses.replace(COMMAS, unnamed=unnamed)
    return read_csv(
        raw,
        target=target,
        limits=limits,
        na_tokens=na_tokens,
        ignore=ignore,
        only=only,
        encoding=encoding,
        otherwise=otherwise,
        decimal=decimal,
    )
