"""CSV bytes → named columns: the encoding, the text checks, the header, then the rows."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest import marks
from regtune.service.ingest.csv_rows import read_rows
from regtune.service.ingest.dialects import (
    SEP_LINE,
    SNIFF_LINES,
    Dialect,
    NumberedRows,
    RowLines,
    allow_fields,
    named_dialect,
    sniff_dialect,
    unclosed_quote,
)
from regtune.service.ingest.encodings import (
    BOM,
    UTF8,
    UTF16,
    check_encoding,
    in_order,
    neither,
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
from regtune.service.ingest.ragged import ragged_rows
from regtune.service.ingest.text_checks import check_text

if TYPE_CHECKING:
    import pandas as pd


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
    the header is refused before any row is read, naming its line (``ragged``: where the first
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
    check_text(raw, limits, encoding=used)
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
    ragged = ragged_rows(body, len(names), sep=dialect.sep, max_rows=limits.max_rows, before=before)
    ragged.check(sep=dialect.sep)
    where = RowLines(body, sep=dialect.sep, before=before)
    dialect = dataclasses.replace(dialect, where=where)

    def read(mark: str) -> list[Any]:
        columns = read_rows(
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
