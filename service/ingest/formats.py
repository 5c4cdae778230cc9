"""CSV and Parquet bytes → named columns, read safely and checked before anything is parsed.

No pickle and no eval: CSV goes to pandas' C parser with every cell as text or number (a
leading ``=`` is just a character), Parquet to pyarrow after its schema is checked. Where pandas
is not installed (``pip install regtune`` without extras, for ``regtune predict``), CSV goes to
Python's csv module instead, every cell as text for ``values.classify`` to read as upload does;
Parquet then needs pandas and pyarrow. Binary
garbage, other encodings, overlong lines, too many columns and duplicate or missing names are
refused up front, each with the byte, line or column at fault.

A Parquet file is bounded before its data is read: rows, rows × columns and decoded bytes come
from its metadata, so a few compressed megabytes that decode to gigabytes are refused at once.
It is then read batch by batch with the same limits counted on what was really decoded (the
metadata may lie), text columns stay dictionary-encoded (one copy per distinct value), and page
checksums are verified where the writer stored them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from regtune.service.errors import FieldProblem, InvalidUpload
from regtune.service.ingest import marks
from regtune.service.ingest.encodings import (
    BOM,
    UTF8,
    check_encoding,
    encoding_problem,
    neither,
    not_utf8,
    to_utf8,
)

if TYPE_CHECKING:
    import pandas as pd

    from regtune.service.settings import Settings

PARQUET_MAGIC = b"PAR1"
PARQUET_BATCH_ROWS = 65_536
BYTES_PER_CELL = 8
"""A decoded cell is a float64: the decoded-size budget is ``max_cells`` × this."""
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
HIDDEN_CHARACTERS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Direction overrides, which make a name read as other text in a terminal or a page."""
NA_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "?", "#N/A")
"""Cells read as missing values, in CSV and in Parquet text columns (``#N/A``: a spreadsheet's
own missing value, as pandas reads it)."""


@dataclass(frozen=True)
class Limits:
    max_columns: int = 1_000
    max_categories: int = 50
    min_rows: int = 20
    max_rows: int = 2_000_000
    max_line_bytes: int = 1024 * 1024
    max_cells: int = 40_000_000
    max_text_chars: int = 1_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_columns=settings.dataset_max_columns,
            max_categories=settings.dataset_max_categories,
            min_rows=settings.dataset_min_rows,
            max_rows=settings.dataset_max_rows,
            max_line_bytes=settings.dataset_max_line_bytes,
            max_cells=settings.dataset_max_cells,
        )

    @property
    def max_decoded_bytes(self) -> int:
        return self.max_cells * BYTES_PER_CELL

    def check_size(self, rows: int, columns: int, *, decoded: int = 0, what: str = "") -> None:
        """Refuse a table of ``rows`` × ``columns`` (or ``decoded`` bytes) over the limits."""
        if rows > self.max_rows:
            raise InvalidUpload(
                f"the file has {rows}{what} rows; at most {self.max_rows} "
                "(REGTUNE_DATASET_MAX_ROWS)"
            )
        if rows * columns > self.max_cells:
            raise InvalidUpload(
                f"the file has {rows}{what} rows × {columns} columns = {rows * columns} values; at "
                f"most {self.max_cells} (REGTUNE_DATASET_MAX_CELLS)"
            )
        if decoded > self.max_decoded_bytes:
            raise InvalidUpload(
                f"the file decodes to {decoded}{what} bytes; at most {self.max_decoded_bytes} "
                "(8 bytes × REGTUNE_DATASET_MAX_CELLS)"
            )


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:4096]
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the edge
    return True


def detect_format(raw: bytes, filename: str) -> str:
    if raw.startswith(PARQUET_MAGIC):
        return "parquet"
    if filename.lower().endswith(PARQUET_SUFFIXES):
        looks = "; it looks like CSV text" if _looks_like_text(raw) else ""
        raise InvalidUpload(
            f"{filename} is not a Parquet file: it does not start with the PAR1 magic bytes{looks}"
        )
    return "csv"


def _check_text(raw: bytes, limits: Limits) -> None:
    nul = raw.find(b"\0")
    if nul >= 0:
        raise InvalidUpload(
            f"the file looks binary (a NUL byte at offset {nul}); send CSV text or Parquet"
        )
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


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode(UTF8)
    except UnicodeDecodeError:
        return False
    return True


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

    @property
    def notes(self) -> list[str]:
        """What the dataset's notes say about a file not read as UTF-8 with commas and decimal
        points."""
        said = []
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


def _mismatch(head: str, sep: str, width: int, *, complete: bool) -> str | None:
    """Where the first data lines of ``head`` do not split into ``width`` fields on ``sep``."""
    reader = csv.reader(io.StringIO(head, newline=""), delimiter=sep, skipinitialspace=True)
    try:
        rows = [(reader.line_num, row) for row in reader][1:]
    except csv.Error as exc:
        return f"the first lines cannot be read with {sep!r}: {exc}"
    if not complete:
        rows = rows[:-1]  # the last may be cut
    for line, row in rows:
        if row and len(row) != width:
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


def ignore_problem(rule: str) -> InvalidUpload:
    """A column the upload was asked to leave out cannot be: the 422 names ``ignore``."""
    return InvalidUpload(f"ignore: {rule}", [FieldProblem(path="ignore", rule=rule)])


def _shown(names: Sequence[str]) -> str:
    """The first few column names, for a message that says which columns the file has."""
    return ", ".join(repr(n[:40]) for n in names[:8]) + (", ..." if len(names) > 8 else "")


def _check_header(
    names: list[str],
    *,
    target: str | None,
    limits: Limits,
    ignore: Collection[str] = (),
) -> None:
    """Refuse duplicate names, a target or ignored column the file lacks, and more columns than
    the limit (ignored columns are dropped as they are read, so they do not count)."""
    kept = sum(name not in ignore for name in names)
    if kept - 1 > limits.max_columns:
        left_out = f" besides the {len(names) - kept} ignored" if kept < len(names) else ""
        raise InvalidUpload(
            f"the file has {kept} columns{left_out}; at most {limits.max_columns + 1} "
            "(REGTUNE_DATASET_MAX_COLUMNS features plus the target)"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        _check_name(name, i, limits)
        if name in seen:
            raise InvalidUpload(
                f"duplicate column name {name!r} (columns {seen[name] + 1} and {i + 1}); "
                "column names must be unique"
            )
        seen[name] = i
    if target is not None and target not in seen:
        message = f"target column {target!r} is not in the file (columns: {_shown(names)})"
        raise InvalidUpload(message, [FieldProblem(path="target", rule=message)])
    for name in ignore:
        if name not in seen:
            raise ignore_problem(f"column {name!r} is not in the file (columns: {_shown(names)})")


def _check_name(name: str, index: int, limits: Limits) -> None:
    """A column name is shown in terminals, reports and error messages: no control characters
    (a terminal runs an escape sequence), no direction overrides, no longer than a text value."""
    if len(name) > limits.max_text_chars:
        raise InvalidUpload(
            f"the name of column {index + 1} ({name[:40]!r}...) is {len(name)} characters long; "
            f"column names are at most {limits.max_text_chars} characters"
        )
    hidden = [
        ch
        for ch in name
        if ch in HIDDEN_CHARACTERS or unicodedata.category(ch) in ("Cc", "Zl", "Zp")
    ]
    if hidden:
        raise InvalidUpload(
            f"the name of column {index + 1} ({name[:40]!r}) holds a control character "
            f"({hidden[0]!r}); column names are printable text"
        )


def read_csv(
    raw: bytes,
    *,
    target: str | None,
    limits: Limits,
    na_tokens: Sequence[str] = NA_TOKENS,
    ignore: Collection[str] = (),
    encoding: str | None = None,
    otherwise: str = UTF8,
    decimal: str = ".",
) -> tuple[list[str], list[pd.Series] | list[np.ndarray], Dialect]:
    """Named columns of CSV bytes but the ``ignore``d ones, and how the file is written
    (``sniff_dialect``); ``target`` (when given) and each ignored name must be columns of the
    file. Every row is still checked for its field count (pandas' ``usecols`` would pass a
    ragged row). pandas reads a semicolon file's plain decimal commas (``3,14``); ``values``
    reads the rest (grouped thousands, a column written with decimal points).

    The bytes are text in ``encoding`` (UTF-8 when None; then, for bytes that are not UTF-8,
    ``otherwise``: the encoding a model's training file was read with). A tab file is read
    with ``decimal`` unless its numbers show the other mark (``marks.choose``)."""
    used = check_encoding(encoding)
    if encoding is None and otherwise != UTF8 and not _is_utf8(raw):
        used = check_encoding(otherwise)
        try:
            raw = to_utf8(raw, used)
        except InvalidUpload:
            raise neither(raw, used) from None
    else:
        raw = to_utf8(raw, used)
    if b"\r" in raw and b"\n" not in raw:  # lines ended by CR alone: Excel's CSV (Macintosh)
        raw = raw.replace(b"\r", b"\n")
    _check_text(raw, limits)
    text_start = 3 if raw.startswith(BOM) else 0
    first = _line(raw, text_start)
    named = SEP_LINE.fullmatch(first.rstrip("\r"))
    if named is not None:  # Excel's own line naming the separator
        text_start += len(first.encode()) + 1
        first = _line(raw, text_start)
    if not first.strip():
        raise InvalidUpload("the first line is empty; it must be the header with column names")
    if named is not None:
        dialect = _named_dialect(named[1])
    else:
        head = _head(raw[text_start:], SNIFF_LINES + 1)
        dialect = sniff_dialect(head.decode("utf-8"), complete=len(head) == len(raw) - text_start)
    dialect = dataclasses.replace(dialect, encoding=used)
    try:
        header = next(csv.reader([first.rstrip("\r")], delimiter=dialect.sep))
    except csv.Error as exc:
        raise InvalidUpload(f"the header line cannot be read as CSV: {exc}") from None
    names = [n.strip() or f"column_{i + 1}" for i, n in enumerate(header)]
    _check_delimiter(header)
    _check_header(names, target=target, limits=limits, ignore=ignore)
    kept = [i for i, name in enumerate(names) if name not in ignore]
    body = raw[text_start:]

    def read(mark: str) -> list[Any]:
        columns = _read_body(body, len(names), limits, sep=dialect.sep, decimal=mark, na=na_tokens)
        return [columns[i] for i in kept]

    kept_names = [names[i] for i in kept]
    columns: Sequence[Any]
    if dialect.sep != "\t":
        columns = read(dialect.decimal)
    else:
        mark, columns = marks.choose(read, kept_names, first=decimal, na_tokens=na_tokens)
        dialect = dataclasses.replace(dialect, decimal=mark)
    blank = [
        j
        for j, (i, values) in enumerate(zip(kept, columns, strict=True))
        if not header[i].strip() and _empty(values, na_tokens)
    ]
    if not blank:
        return kept_names, list(columns), dialect
    dialect = dataclasses.replace(dialect, blank=tuple(kept[j] + 1 for j in blank))
    left = [j for j in range(len(kept)) if j not in blank]
    return [kept_names[j] for j in left], [columns[j] for j in left], dialect


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


def _named_dialect(sep: str) -> Dialect:
    """The dialect of a file whose first line is ``sep=;``, as Excel writes and reads it."""
    for dialect in DIALECTS:
        if dialect.sep == sep:
            return dialect
    raise InvalidUpload(
        f"the first line names the separator {sep!r} (sep={sep}); the separators read are ',', "
        "';' and a tab"
    )


def _read_body(
    body: bytes, width: int, limits: Limits, *, sep: str, decimal: str, na: Sequence[str]
) -> list[Any]:
    """Every column of the data rows (``body`` starts with the header line): pandas' C parser
    with ``decimal``, or without pandas the csv module's text cells."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        return _read_csv_cells(body, width, limits, sep=sep)
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            skiprows=1,
            sep=sep,
            decimal=decimal,
            names=list(range(width)),
            keep_default_na=False,
            na_values=list(na),
            skipinitialspace=True,
            engine="c",
            encoding="utf-8",
            nrows=limits.max_rows + 1,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=list(range(width)))
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        message = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise InvalidUpload(f"the CSV cannot be parsed: {message}") from None
    return [frame[i] for i in range(width)]


def _read_csv_cells(raw: bytes, width: int, limits: Limits, *, sep: str) -> list[np.ndarray]:
    """The data rows of CSV bytes (header first) as text columns, without pandas: the csv
    module's dialect is pandas' default one (``sep``, double quotes); blank lines are skipped,
    a short row is padded with missing cells, a long one is refused."""
    lines = io.StringIO(raw.decode("utf-8"), newline="")
    reader = csv.reader(lines, delimiter=sep, skipinitialspace=True, strict=True)
    rows: list[list[str | None]] = []
    try:
        next(reader, None)  # the header, read by the caller
        for row in reader:
            if not row:
                continue
            if len(row) > width:
                raise InvalidUpload(
                    f"the CSV cannot be parsed: Expected {width} fields in line "
                    f"{reader.line_num}, saw {len(row)}"
                )
            rows.append([*row, *[None] * (width - len(row))])
            if len(rows) > limits.max_rows:
                break
    except csv.Error as exc:
        raise InvalidUpload(f"the CSV cannot be parsed: {exc} (line {reader.line_num})") from None
    table = np.array(rows, dtype=object).reshape(len(rows), width)
    return [table[:, j] for j in range(width)]


def _parquet_fields(
    schema: Any, *, target: str | None, limits: Limits, ignore: Collection[str]
) -> list[Any]:
    """The data columns of a Parquet schema but the ignored ones, checked like a CSV header, of
    supported types (an ignored column may be of any type: it is never read)."""
    import pyarrow.types as pat

    fields = [f for f in schema if not f.name.startswith("__index_level_")]
    _check_header([f.name for f in fields], target=target, limits=limits, ignore=ignore)
    fields = [f for f in fields if f.name not in ignore]
    for f in fields:
        kind = _value_type(f.type)
        supported = (
            pat.is_integer(kind)
            or pat.is_floating(kind)
            or pat.is_boolean(kind)
            or pat.is_string(kind)
            or pat.is_large_string(kind)
            or pat.is_null(kind)
        )
        if not supported:
            raise InvalidUpload(
                f"column {f.name!r} has Parquet type {f.type}; only numbers, booleans and text "
                f"are supported; to upload the file without it: ignore={f.name!r} (--ignore)"
            )
    return fields


def _value_type(kind: Any) -> Any:
    import pyarrow.types as pat

    return kind.value_type if pat.is_dictionary(kind) else kind


def _is_text(kind: Any) -> bool:
    import pyarrow.types as pat

    kind = _value_type(kind)
    return bool(pat.is_string(kind) or pat.is_large_string(kind))


def _open_parquet(raw: bytes, **options: Any) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(pa.BufferReader(raw), page_checksum_verification=True, **options)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidUpload(f"the Parquet file cannot be read: {exc}") from None


def read_columns(
    raw: bytes,
    filename: str,
    *,
    target: str | None,
    limits: Limits,
    na_tokens: Sequence[str] = NA_TOKENS,
    ignore: Collection[str] = (),
    encoding: str | None = None,
    otherwise: str = UTF8,
    decimal: str = ".",
) -> tuple[list[str], list[pd.Series] | list[np.ndarray], Dialect]:
    """Named columns of a CSV or Parquet file (``detect_format``) but the ``ignore``d ones, and
    how the file is written (``COMMAS`` for Parquet, whose numbers are numbers and whose text
    is UTF-8); ``encoding``, ``otherwise`` and ``decimal`` as ``read_csv`` takes them."""
    if detect_format(raw, filename) == "parquet":
        if check_encoding(encoding) != UTF8:
            raise encoding_problem(
                f"applies to CSV text; a Parquet file's text is UTF-8 by its format, got "
                f"{encoding!r}"
            )
        names, values = read_parquet(raw, target=target, limits=limits, ignore=ignore)
        return names, values, COMMAS
    return read_csv(
        raw,
        target=target,
        limits=limits,
        na_tokens=na_tokens,
        ignore=ignore,
        encoding=encoding,
        otherwise=otherwise,
        decimal=decimal,
    )


def read_parquet(
    raw: bytes, *, target: str | None, limits: Limits, ignore: Collection[str] = ()
) -> tuple[list[str], list[pd.Series]]:
    """Named columns of Parquet bytes but the ``ignore``d ones (never decoded; nulls are
    missing; missing-value text tokens are read as such by the caller)."""
    try:
        import pandas  # noqa: F401
        import pyarrow as pa
    except ModuleNotFoundError as exc:
        raise InvalidUpload(
            f"reading Parquet needs pandas and pyarrow ({exc.name} is not installed): "
            "pip install pandas pyarrow, or send CSV"
        ) from None

    opened = _open_parquet(raw)
    meta = opened.metadata
    fields = _parquet_fields(opened.schema_arrow, target=target, limits=limits, ignore=ignore)
    names = [f.name for f in fields]
    limits.check_size(meta.num_rows, len(names), decoded=_declared_bytes(meta, names))
    text = [f.name for f in fields if _is_text(f.type)]
    parquet = _open_parquet(raw, read_dictionary=text)
    chunks: list[list[Any]] = [[] for _ in names]
    rows = decoded = 0
    try:
        for batch in parquet.iter_batches(
            batch_size=PARQUET_BATCH_ROWS, columns=names, use_threads=False
        ):
            rows += batch.num_rows
            decoded += batch.nbytes
            limits.check_size(rows, len(names), decoded=decoded, what=" (decoded)")
            for i, column in enumerate(batch.columns):
                chunks[i].append(column)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidUpload(f"the Parquet file cannot be read: {exc}") from None
    return names, [
        _series(f, pa.chunked_array(c, type=f.type if not c else None), limits)
        for f, c in zip(fields, chunks, strict=True)
    ]


def _declared_bytes(meta: Any, names: Collection[str]) -> int:
    """What the file's metadata says the ``names`` columns decode to, before any is decoded
    (the uncompressed size of their column chunks; an ignored column's are not counted)."""
    kept = set(names)
    total = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            top = chunk.path_in_schema  # "a", or "a.list.element" for a nested column
            if top in kept or top.split(".", 1)[0] in kept:
                total += chunk.total_uncompressed_size
    return total


def _series(field: Any, column: Any, limits: Limits) -> pd.Series:
    """One decoded Parquet column as the Series ``read_table`` expects: float64 or object."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    kind = _value_type(field.type)
    if pat.is_null(kind):
        return pd.Series(np.full(len(column), np.nan))
    if pat.is_boolean(kind):  # text True / False, as a CSV's booleans (see ``values``)
        return pd.Series(column.to_pandas(), dtype="object")
    if not _is_text(kind):
        if pat.is_dictionary(column.type):
            column = column.cast(kind)
        return pd.Series(column.cast(pa.float64()).to_numpy(), dtype="float64")
    if pat.is_dictionary(column.type):
        values = pa.chunked_array(
            [c.dictionary for c in column.chunks], type=column.type.value_type
        )
    else:
        values = column
    if len(values):
        longest = pc.max(pc.utf8_length(values)).as_py() or 0
        if longest > limits.max_text_chars:
            raise InvalidUpload(
                f"column {field.name!r} has a text value of {longest} characters; text values "
                f"are categories of at most {limits.max_text_chars} characters"
            )
    series = column.to_pandas()  # a dictionary column becomes a Categorical: one str per value
    return series.astype("object").where(series.notna(), None)
