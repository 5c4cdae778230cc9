"""The upload's own missing-value marks: cell texts read as missing beside ``NA_TOKENS``.

Survey and statistics-office tables, and R, SAS and Stata exports, write a missing value as
``-``, ``.`` or ``n.a.``; the upload may name such marks (pandas' ``na_values``, R's
``na.strings``). A mark is matched against a cell's whole stripped text, case and all, in a CSV
and in a Parquet file's text columns, as the built-in tokens are. A text that reads as a number
(``0``, ``-1``, ``1e5``) is refused: as a mark it would silently turn real values into missing
ones. The marks count as a set: repeats, order, and marks already read as missing change
nothing, so the same marks written another way are the same dataset.
"""

from __future__ import annotations

from collections.abc import Iterable

from regtune.service.errors import FieldProblem, InvalidUpload
from regtune.service.ingest.marks import NA_TOKENS, reads_with_comma, reads_with_point
from regtune.service.ingest.values import BOOLEANS

FIELD = "missing_values"
MAX_MARKS = 20
MAX_MARK_CHARS = 40


def missing_values_problem(rule: str) -> InvalidUpload:
    """A 422 at the ``missing_values`` option."""
    return InvalidUpload(f"{FIELD}: {rule}", [FieldProblem(path=FIELD, rule=rule)])


def check_missing_values(marks: Iterable[str] | None) -> tuple[str, ...]:
    """The marks that add to ``NA_TOKENS``, sorted; each one checked (a 422 at
    ``missing_values`` naming the mark and the rule)."""
    given = [] if marks is None else list(marks)
    if len(given) > MAX_MARKS:
        raise missing_values_problem(f"at most {MAX_MARKS} marks, got {len(given)}")
    for mark in given:
        _check(mark)
    return tuple(sorted(set(given) - set(NA_TOKENS)))


def _check(mark: str) -> None:
    if not mark:
        raise missing_values_problem(
            "a mark must be a non-empty text; an empty cell is read as missing already"
        )
    if len(mark) > MAX_MARK_CHARS:
        raise missing_values_problem(
            f"a mark is at most {MAX_MARK_CHARS} characters, got {len(mark)} ({mark[:40]!r}...)"
        )
    if mark != mark.strip():
        raise missing_values_problem(
            f"a mark must not start or end with a space (cells are compared with their spaces "
            f"stripped), got {mark!r}"
        )
    if not mark.isprintable():
        raise missing_values_problem(f"a mark must be printable text, got {mark!r}")
    if _reads_as_number(mark):
        raise missing_values_problem(
            f"{mark!r} reads as a number: as a missing-value mark it would silently turn that "
            "number into a missing value wherever a column holds it; a mark must be text such as "
            "'-', '.' or 'n.a.'"
        )
    if mark.lower() in BOOLEANS:
        raise missing_values_problem(
            f"{mark!r} reads as a boolean, the category {BOOLEANS[mark.lower()]!r}; a mark must "
            "be text such as '-', '.' or 'n.a.'"
        )


def _reads_as_number(text: str) -> bool:
    """A number with either decimal mark (``1,5``, ``1.234,5``, ``1e5``), or one Python's
    float() reads (``inf``); ``NAN``-like texts read as no number."""
    if reads_with_point(text) or reads_with_comma(text):
        return True
    try:
        value = float(text)
    except ValueError:
        return False
    return value == value


def read_as_missing(declared: Iterable[str]) -> tuple[str, ...]:
    """Every cell text read as missing: ``NA_TOKENS``, then the upload's declared marks (those
    not among them), at upload and at predict alike."""
    return (*NA_TOKENS, *(mark for mark in declared if mark not in NA_TOKENS))
