"""How a CSV file is written: its separator and decimal mark (``Dialect``), found from its
first lines (``sniff_dialect``) or named by Excel's ``sep=`` line, never guessed."""

from __future__ import annotations

import bisect
import csv
import io
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encodings import UTF8

SHORT_LINES = 5
"""Lines of short rows a note names (it counts them all)."""


@dataclass(frozen=True)
class ShortRows:
    """Data rows with fewer fields than the header, read with missing cells at their end (as
    pandas and R read them): how many, and the lines (of the file, from 1) the first start on."""

    rows: int = 0
    lines: tuple[int, ...] = ()

    @property
    def note(self) -> str | None:
        """What an upload says of them."""
        return self.said(again="upload it again")

    def said(self, *, again: str) -> str | None:
        """How many rows and the first lines, and what to do (``again``: with the corrected
        file); None without short rows."""
        if not self.rows:
            return None
        one = self.rows == 1
        shown = ", ".join(map(str, self.lines)) + (", …" if self.rows > len(self.lines) else "")
        return (
            f"{self.rows} row{'' if one else 's'} (line{'' if len(self.lines) == 1 else 's'} "
            f"{shown}) {'has' if one else 'have'} fewer fields than the header: the missing "
            f"ones at {'its' if one else 'their'} end were read as missing values; if a "
            f"separator was lost there, correct the file and {again}"
        )


class DataRows:
    """How a refusal names a row of a table that has no lines (Parquet, a DataFrame): by its
    data row, from 1 (the header is no data row)."""

    def __call__(self, row: int) -> str:
        """``row``: the data row from 0, as a column's values are indexed."""
        return f"data row {row + 1}"


DATA_ROWS = DataRows()


@dataclass(frozen=True)
class Dialect:
    """How a CSV file's fields and numbers are written: commas and decimal points; as
    spreadsheets write CSV where the decimal mark is a comma, semicolons and decimal commas
    (R's ``read.csv2``); or tabs, as tools export ``.tsv`` and a copy from a spreadsheet gives,
    with decimal points or, where a column of numbers shows them, decimal commas (``marks``);
    and the text encoding it was read with."""

    sep: str = ","
    decimal: str = "."
    encoding: str = UTF8
    blank: tuple[int, ...] = ()
    """Columns (numbered from 1) without a name or any value, left out as they were read."""
    unnamed: tuple[int, ...] = ()
    """Columns (numbered from 1) read without a name in the header, each named ``column_<n>``
    (``header.column_name``; the upload's notes say so: ``notes.unnamed_notes``)."""
    short: ShortRows = ShortRows()
    where: DataRows = field(default=DATA_ROWS, compare=False, repr=False)
    """How a refusal names a data row: in a CSV file, by the line it starts on (``RowLines``)."""

    @property
    def notes(self) -> list[str]:
        """What the dataset's notes say about a file not read as UTF-8 with commas and decimal
        points."""
        said = []
        if self.short.note:
            said.append(self.short.note)
        if self.blank:
            said.append(
                f"column(s) {', '.join(map(str, self.blank))} have no name and no value in any "
                "row (as a spreadsheet exports formatted empty cells): left out"
            )
        if self.encoding != UTF8:
            said.append(f"the file was read as {self.encoding} text (encoding={self.encoding})")
        if self.sep == "\t" and self.decimal == ",":
            said.append(
                "the file was read as separated by tabs with decimal commas ('3,14' is 3.14; "
                "'.', a space or a no-break space groups thousands: '1.234,5'), as a copy from a "
                "spreadsheet gives where the decimal mark is a comma (a column of its numbers "
                "shows them)"
            )
        elif self.sep == "\t":
            said.append(
                "the file was read as separated by tabs with decimal points ('3.14'), as tools "
                "export .tsv files and a copy from a spreadsheet gives"
            )
        elif self.sep == ";":
            said.append(
                "the file was read as separated by semicolons with decimal commas ('3,14' is "
                "3.14; '.', a space or a no-break space groups thousands: '1.234,5'), as "
                "spreadsheets write CSV where the decimal mark is a comma"
            )
        return said


COMMAS = Dialect()
SEMICOLONS = Dialect(";", ",")
TABS = Dialect("\t", ".")
DIALECTS = (COMMAS, SEMICOLONS, TABS)
SEP_LINE = re.compile(r"sep=(.)")
"""A first line that names the separator, as Excel writes and reads it: ``sep=;``."""
SNIFF_LINES = 100
"""Data lines the separator is checked on, besides the header."""
SEPARATOR_RULE = (
    "a file is read with the one separator of ',', ';' and a tab on which its header and first "
    "data lines split into the same number of fields (several); with commas when the header "
    "splits on neither ';' nor a tab"
)


def _split(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    except csv.Error:
        return []


def spaces(sep: str) -> str:
    """What a line of no row is made of besides its line end, as pandas skips it: spaces and
    tabs, but the separator (a tab in a tab file separates two empty cells)."""
    return " \t".replace(sep, "")


class Lines:
    """The lines of CSV text for the csv module, which tells a row of a blank line from a row
    of one empty field (``""``) by the line it was read from, and a row the text ended inside
    (a quote never closed) from one its line ended."""

    def __init__(self, text: str, sep: str) -> None:
        self._lines = io.StringIO(text, newline="")
        self._last = ""
        self._blank = spaces(sep) + "\r\n"
        self.ended = False
        """Every line was read."""

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        try:
            self._last = next(self._lines)
        except StopIteration:
            self.ended = True
            raise
        return self._last

    def blank(self, row: list[str]) -> bool:
        """``row`` is an empty line or a line of spaces and tabs (not the separator), which
        pandas skips (not a row)."""
        if not row:
            return True
        return len(row) == 1 and not row[0].strip(self._blank) and not self._last.strip(self._blank)


_FIELDS = threading.Lock()


def allow_fields(chars: int) -> None:
    """Let the csv module read a field of ``chars`` characters (its limit, 131,072 by default,
    is the process's): pandas reads any field, and a long one is refused by the rule it breaks
    (``values.classify``: a category's length), or read in an ignored column, either way. The
    limit only grows, under a lock, so a file read on another thread keeps what it needs."""
    with _FIELDS:
        if csv.field_size_limit() < chars:
            csv.field_size_limit(chars)


class NumberedRows:
    """The rows the csv module reads from CSV text (header first, ``sep``, pandas' default
    quoting, text after a closing quote part of the field as pandas reads ``"5"x``: ``5x``),
    each with the line of the text (from 1) it starts on and whether it is blank
    (``Lines.blank``). ``start``: the line the row being read starts on, which is where a row
    the reader refuses (``csv.Error``) starts; ``unclosed``: the last row read holds a quote
    never closed (the text ended inside it), which the readers refuse (``unclosed_quote``)."""

    def __init__(self, text: str, sep: str) -> None:
        allow_fields(len(text))
        self._lines = Lines(text, sep)
        self._reader = csv.reader(self._lines, delimiter=sep, skipinitialspace=True)
        self.start = 1
        self.unclosed = False

    @property
    def line(self) -> int:
        """The last line read (the csv module's ``line_num``)."""
        return self._reader.line_num

    def __iter__(self) -> Iterator[tuple[int, list[str], bool]]:
        for row in self._reader:
            # a row is read to its line's end, and only a quote still open reads past the text
            self.unclosed = self._lines.ended
            yield self.start, row, self._lines.blank(row)
            self.start = self._reader.line_num + 1


class RowLines(DataRows):
    """How a refusal names a data row of a CSV file: by the line of the file it starts on, as a
    user finds it in an editor (past a ``sep=`` line, blank lines, lines of spaces and the lines
    of quoted fields), and its data row. The reader without pandas says where each row starts
    (``add``), kept only where a row does not start on the line after the last one's; after
    pandas read the file, the line is found when a refusal asks for it, by reading the file up
    to that row as that reader does (``NumberedRows``)."""

    def __init__(self, body: bytes, *, sep: str, before: int) -> None:
        """``body``: the file from its header line on, ``before`` lines after its start."""
        self._body, self._sep, self.before = body, sep, before
        self._rows: list[int] = []
        self._lines: list[int] = []
        self.known = False
        """Every row read was ``add``ed: the file need not be read again."""

    def reset(self) -> None:
        """The file is read again from its first row."""
        self._rows, self._lines, self.known = [], [], False

    def add(self, row: int, line: int) -> None:
        """Data row ``row`` (from 0) starts on ``line`` of ``body`` (from 1)."""
        if not self._rows or line - row != self._lines[-1] - self._rows[-1]:
            self._rows.append(row)
            self._lines.append(line)

    def line(self, row: int) -> int | None:
        """The line of the file (from 1) data row ``row`` (from 0) starts on; None where the
        csv module cannot read the file up to it."""
        if self.known:
            at = bisect.bisect_right(self._rows, row) - 1
            return None if at < 0 else self._lines[at] + row - self._rows[at] + self.before
        rows = NumberedRows(self._body.decode("utf-8"), self._sep)
        data = -1
        try:
            for number, (start, _, blank) in enumerate(rows):
                if number == 0 or blank:  # the header; a blank line is no row
                    continue
                data += 1
                if data == row:
                    return start + self.before
        except csv.Error:
            pass
        return None

    def __call__(self, row: int) -> str:
        line = self.line(row)
        said = super().__call__(row)
        return said if line is None else f"line {line} ({said})"


UNCLOSED = "EOF inside string starting at line "
"""How pandas says a quote is never closed (``line``: the line it opens on, once ``csv_rows``
numbers it by the file's lines)."""


def unclosed_quote(line: int) -> InvalidUpload:
    """A quote opened on ``line`` (of the file, from 1) and never closed, as pandas says it, and
    the rule it breaks."""
    return InvalidUpload(
        f"the CSV cannot be parsed: {UNCLOSED}{line} (a field that opens with a quote goes on, "
        'over line ends, to the quote that closes it; a quote inside it is written twice, "")'
    )


def long_row(line: int, fields: int, width: int, *, sep: str) -> InvalidUpload:
    """A row that starts on ``line`` (of the file, from 1) with ``fields`` fields, more than the
    header's ``width``, as pandas says it, and the rule it breaks: never read with its first
    fields as a row index, nor cut to the header's width."""
    return InvalidUpload(
        f"the CSV cannot be parsed: Expected {width} fields in line {line}, saw {fields} (the row "
        f"has {fields} fields, the header {width}; a row may have fewer fields than the header, "
        f"never more: quote a field that holds {sep!r}, and where every line ends with {sep!r}, "
        "end the header with one too)"
    )


def _mismatch(head: str, sep: str, width: int, *, complete: bool) -> str | None:
    """Where the first data lines of ``head`` do not split into ``width`` fields on ``sep``;
    blank lines and lines of spaces and tabs are no rows, as the readers skip them."""
    numbered = NumberedRows(head, sep)
    try:
        rows = list(numbered)  # each row with the line it starts on
    except csv.Error as exc:
        return f"the first lines cannot be read with {sep!r}: {exc}"
    rows = rows[1:]
    if not complete or numbered.unclosed:
        rows = rows[:-1]  # the last may be cut, or a quote never closed, which the readers name
    for line, row, blank in rows:
        if not blank and len(row) != width:
            return (
                f"the header splits into {width} fields on {sep!r} but line {line} into {len(row)}"
            )
    return None


def sniff_dialect(head: str, *, complete: bool) -> Dialect:
    """Commas, unless the header and the first data lines of ``head`` (the file's start, all of
    it when ``complete``) are separated by semicolons, or by tabs, and by no other separator the
    header splits on; a file that reads several ways, or none, is refused naming the rule, never
    guessed."""
    header = head.split("\n", 1)[0].rstrip("\r")
    widths = {d: len(_split(header, d.sep)) for d in DIALECTS}
    splitting = [d for d in DIALECTS if widths[d] >= 2]
    if all(d == COMMAS for d in splitting):
        return COMMAS
    mismatches = {d: _mismatch(head, d.sep, widths[d], complete=complete) for d in splitting}
    fitting = [d for d in splitting if mismatches[d] is None]
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        raise _ambiguous(
            "the header and first data lines split into "
            + " and into ".join(
                f"{widths[d]}{' fields' if i == 0 else ''} on {d.sep!r}"
                for i, d in enumerate(fitting)
            )
        )
    found = ", and ".join(str(m) for m in mismatches.values())
    raise _ambiguous(found, what="no separator fits the rows")


def _ambiguous(found: str, *, what: str = "the separator is ambiguous") -> InvalidUpload:
    return InvalidUpload(
        f"{what}: {found} ({SEPARATOR_RULE}); save the file with one separator, commas, "
        "semicolons or tabs, and quote any field that holds it"
    )


def named_dialect(sep: str) -> Dialect:
    """The dialect of a file whose first line is ``sep=;``, as Excel writes and reads it."""
    for dialect in DIALECTS:
        if dialect.sep == sep:
            return dialect
    raise InvalidUpload(
        f"the first line names the separator {sep!r} (sep={sep}); the separators read are ',', "
        "';' and a tab"
    )
