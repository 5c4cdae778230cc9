"""A table's shape and column names, checked before any cell is read: the size limits, and
the header's rules (unique, printable names; the target and every ignored column present)."""

from __future__ import annotations

import dataclasses
import sys
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from regtune.service.errors import FieldProblem, InvalidUpload

if TYPE_CHECKING:
    from regtune.service.settings import Settings

BYTES_PER_CELL = 8
"""A decoded cell is a float64: the decoded-size budget is ``max_cells`` × this."""
JOINERS = frozenset("\u200c\u200d")
"""Zero-width non-joiner and joiner: the invisible format characters a word of Persian or of an
Indic script needs (``می\u200cخواهم``; after a virama, ``क्\u200dष``), allowed between such
letters."""
EVERY_ROW = sys.maxsize
"""A row or cell limit that no file reaches (``Limits.every_row``)."""


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

    def every_row(self) -> Limits:
        """These limits without a bound on rows, cells or a line's bytes, as predict reads a
        file: they bound what a server stores and trains on, while predict runs where the file
        already is, and answering for fewer rows than it holds would be a wrong answer, not a
        cheaper one (nor is refusing a long line of a column the model never reads, naming a
        server's setting predict does not read)."""
        return dataclasses.replace(
            self, max_rows=EVERY_ROW, max_cells=EVERY_ROW, max_line_bytes=EVERY_ROW
        )

    @property
    def rows_read(self) -> int | None:
        """The most data rows a reader reads: one past ``max_rows``, so that a file over it is
        known to be (``check_size``); None for every row."""
        return None if self.max_rows >= EVERY_ROW else self.max_rows + 1

    @property
    def max_decoded_bytes(self) -> int:
        return self.max_cells * BYTES_PER_CELL

    def check_size(
        self, rows: int, columns: int, *, decoded: int = 0, what: str = "", read: bool = False
    ) -> None:
        """Refuse a table of ``rows`` × ``columns`` (or ``decoded`` bytes) over the limits.
        ``read``: ``rows`` were read by a reader that stops at ``rows_read``, so a count over
        the limit is where it stopped, not the file's."""
        if rows > self.max_rows:
            counted = f"more than {self.max_rows}" if read else f"{rows}{what}"
            raise InvalidUpload(
                f"the file has {counted} rows; at most {self.max_rows} (REGTUNE_DATASET_MAX_ROWS)"
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


def same_name(name: str) -> str:
    """A column name as every reader compares it (upload and predict, CSV and Parquet, the
    target and ignored names given with them): spaces around it stripped, in Unicode's composed
    form (NFC), so names that look alike are alike: ``größe`` typed on one system and written
    with a combining diaeresis by another (macOS's decomposed form) is one name."""
    return unicodedata.normalize("NFC", name.strip())


def column_name(raw: str, index: int) -> str:
    """The name of a file's ``index``-th column (from 0): ``same_name``, or ``column_<n>`` for
    a header cell with no name (the index pandas' ``to_csv`` writes)."""
    return same_name(raw) or f"column_{index + 1}"


def ignore_problem(rule: str) -> InvalidUpload:
    """A column the upload was asked to leave out cannot be: the 422 names ``ignore``."""
    return InvalidUpload(f"ignore: {rule}", [FieldProblem(path="ignore", rule=rule)])


def _shown(names: Sequence[str]) -> str:
    """The first few column names, for a message that says which columns the file has."""
    return ", ".join(repr(n[:40]) for n in names[:8]) + (", ..." if len(names) > 8 else "")


def ignored(
    names: Sequence[str], *, ignore: Collection[str], only: Collection[str] | None
) -> frozenset[str]:
    """The columns a reader drops as it reads them: the ``ignore``d ones, and, with ``only``
    (predict: the model's columns and the target), every column not among ``only``."""
    if only is None:
        return frozenset(ignore)
    return frozenset(ignore) | {name for name in names if name not in only}


def check_header(
    names: list[str],
    *,
    target: str | None,
    limits: Limits,
    ignore: Collection[str] = (),
    unnamed: Collection[int] = (),
) -> None:
    """Refuse duplicate or unprintable names, a target or ignored column the file lacks, and
    more columns than the limit; ignored columns are dropped as they are read, so they do not
    count and their names are not checked (two of them may share one). ``unnamed``: the
    columns (from 0) whose header cell was empty, each named ``column_<n>`` (``column_name``),
    which a duplicate says it gave them."""
    kept = sum(name not in ignore for name in names)
    if kept - 1 > limits.max_columns:
        left_out = f" besides the {len(names) - kept} ignored" if kept < len(names) else ""
        raise InvalidUpload(
            f"the file has {kept} columns{left_out}; at most {limits.max_columns + 1} "
            "(REGTUNE_DATASET_MAX_COLUMNS features plus the target)"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in ignore:
            continue
        _check_name(name, i, limits)
        if name in seen:
            raise InvalidUpload(
                f"duplicate column name {name!r} (columns {seen[name] + 1} and {i + 1})"
                f"{_given(name, seen[name], i, unnamed)}; column names must be unique"
            )
        seen[name] = i
    present = set(names)
    if target is not None and target not in present:
        message = f"target column {target!r} is not in the file (columns: {_shown(names)})"
        raise InvalidUpload(message, [FieldProblem(path="target", rule=message)])
    for name in ignore:
        if name not in present:
            raise ignore_problem(f"column {name!r} is not in the file (columns: {_shown(names)})")


def unnamed_columns(cells: Sequence[str]) -> frozenset[int]:
    """The columns (from 0) of header ``cells`` without a name (``column_name`` names them)."""
    return frozenset(i for i, cell in enumerate(cells) if not same_name(cell))


def _given(name: str, first: int, second: int, unnamed: Collection[int]) -> str:
    """Of two columns named ``name``, the one without a name in the file, given ``name``."""
    for mine, other in ((first, second), (second, first)):
        if mine in unnamed:
            return (
                f": column {mine + 1} has no name and was given {name!r}, which column "
                f"{other + 1} also has"
            )
    return ""


def _check_name(name: str, index: int, limits: Limits) -> None:
    """A column name is shown in terminals, reports and error messages: no control characters
    (a terminal runs an escape sequence), no invisible format characters (``_invisible``), no
    longer than a text value."""
    if len(name) > limits.max_text_chars:
        raise InvalidUpload(
            f"the name of column {index + 1} ({name[:40]!r}...) is {len(name)} characters long; "
            f"column names are at most {limits.max_text_chars} characters"
        )
    control = [ch for ch in name if unicodedata.category(ch) in ("Cc", "Zl", "Zp")]
    if control:
        raise InvalidUpload(
            f"the name of column {index + 1} ({name[:40]!r}) holds a control character "
            f"({control[0]!r}); column names are printable text"
        )
    hidden = [ch for at, ch in enumerate(name) if _invisible(name, at)]
    if hidden:
        said = unicodedata.name(hidden[0], "a format character")
        raise InvalidUpload(
            f"the name of column {index + 1} ({name[:40]!r}) holds an invisible format character "
            f"({hidden[0]!r}, {said}); column names are printable text (a zero-width joiner or "
            "non-joiner only between the letters of a script that needs one, as Persian does)"
        )


def _invisible(name: str, at: int) -> bool:
    """Whether ``name[at]`` is an invisible format character (Unicode's Cf: a direction
    override, which makes a name read as other text in a terminal or a page, a zero-width
    space, a tag character) a name may not hold: all but a ``JOINERS`` between letters (or
    marks) of a script that has them, not ASCII's, between whose letters one only hides."""
    if unicodedata.category(name[at]) != "Cf":
        return False
    if name[at] not in JOINERS or at == 0 or at == len(name) - 1:
        return True
    return not all(
        unicodedata.category(c)[0] in "LM" and not c.isascii() for c in name[at - 1 : at + 2 : 2]
    )
