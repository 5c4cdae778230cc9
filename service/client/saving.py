"""Saving what the API sends to the file a caller names: the file's directory checked before
any request, and a file error told in the caller's words, with nothing half-written left."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def into_a_directory(path: Path, what: str) -> Path:
    """``path``, whose directory must exist and which must not be one: said in the caller's
    words, before anything is asked of the API."""
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save {what} to {path}: the directory {path.parent} does not exist"
        )
    if path.is_dir():
        raise IsADirectoryError(f"cannot save {what} to {path}: it is a directory; name a file")
    return path


@contextmanager
def saving(path: Path, partial: Path, what: str = "the best model") -> Iterator[BinaryIO]:
    """``partial`` open for writing; a file error names ``path``, the file the caller asked
    for, not the temporary one, and leaves neither behind."""
    try:
        with partial.open("wb") as out:
            yield out
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise type(exc)(f"cannot save {what} to {path}: {exc.strerror or exc}") from None
