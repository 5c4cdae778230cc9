"""Why a trial failed, as the tenant who owns its study reads it.

An exception from training can carry the server's paths (artifact directories, temporary and
dataset files), the database's address or URL, and pages of text (torch and numpy put whole
tracebacks in their messages). A trial's error says the usual causes in words with what to do,
else the exception's type and first line, without addresses, URLs or paths and bounded in
length. The worker's log keeps the whole exception with its traceback.
"""

from __future__ import annotations

import errno
import re
import subprocess

from regtune.service.store.backoff import (
    DATABASE_TRANSIENT,
    caused_by_database,
    database_error,
    error_chain,
    without_addresses,
)

MAX_DETAIL = 300
"""Characters of the exception's own first line kept in a trial's error."""

_NOT_FINITE = re.compile(
    r"\b(nan|inf|infinity)\b|not finite|non-finite|overflow|invalid value", re.IGNORECASE
)
_SHAPES = re.compile(
    r"shapes? .*(cannot be multiplied|not aligned|mismatch)|size mismatch|size of tensor"
    r"|could not be broadcast|must match the size|expected input.*to have|features, but"
    r"|inconsistent numbers of samples|dimension mismatch|expected \d+d array",
    re.IGNORECASE,
)

OUT_OF_MEMORY = (
    "out of memory: the trial needed more memory than its worker may use; use fewer rows or "
    "features, a smaller training.batch_size or smaller hidden_layers"
)
NOT_FINITE = (
    "the training diverged (NaN or infinite values): lower the learning_rate range, or check "
    "the data for missing or extreme values"
)
SHAPE_MISMATCH = (
    "the data's shape does not fit the model (a shape mismatch): check that the dataset's "
    "columns and target are the ones the study was defined for"
)
FILE_GONE = (
    "a file the trial reads is gone (removed while the worker ran): upload the dataset again, "
    "or ask the operator to restore it"
)
CANNOT_WRITE = (
    "the worker cannot write a file it needs (no permission, a read-only directory, a full "
    "disk, or a file where a directory should be): the operator must fix the worker's storage "
    "(REGTUNE_ARTIFACT_DIR)"
)
_CANNOT_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.EEXIST)
TIMED_OUT = (
    "a step of the trial timed out: run it again later, or give it a smaller dataset or model"
)


def trial_error(exc: BaseException) -> str:
    """``exc`` as its trial's error: the cause in words when it is a usual one, then the
    exception's type and first line (no path, URL or address; at most ``MAX_DETAIL``
    characters)."""
    if caused_by_database(exc, among=DATABASE_TRANSIENT):
        return f"the database failed: {database_error(exc)}"
    detail = _first_line(exc)
    cause = known_cause(exc)
    return f"{cause} ({detail})" if cause else detail


def known_cause(exc: BaseException) -> str | None:
    """The usual reason a trial fails, in words with what to do, found anywhere in the chain of
    ``exc`` (the objective may wrap it); None if it is none of them."""
    for error in error_chain(exc):
        text = str(error)
        code = getattr(error, "errno", None)
        if isinstance(error, MemoryError) or "out of memory" in text.lower():
            return OUT_OF_MEMORY
        if isinstance(error, FileNotFoundError) or code == errno.ENOENT:
            return FILE_GONE
        if isinstance(error, (PermissionError, NotADirectoryError)) or code in _CANNOT_WRITE:
            return CANNOT_WRITE
        if isinstance(error, (TimeoutError, subprocess.TimeoutExpired)) or "timed out" in text:
            return TIMED_OUT
        if isinstance(error, FloatingPointError):  # numpy's, under np.errstate(...="raise")
            return NOT_FINITE
        if isinstance(error, (ValueError, RuntimeError, ArithmeticError)):
            if _SHAPES.search(text):
                return SHAPE_MISMATCH
            if _NOT_FINITE.search(text):
                return NOT_FINITE
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    text = without_addresses(text)
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
