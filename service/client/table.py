"""A table as an upload sends it: a file as it is, streamed when its size is not known
beforehand (a pipe); a pandas DataFrame as the CSV an upload reads, or a ``ValueError`` naming
what to change where the CSV would not say what the frame does: columns of several levels (a
MultiIndex writes one header line per level, and the next levels' names would be read as data
rows), and a ``category`` column whose categories are numbers (the CSV writes them as numbers,
which an upload reads as numbers, not categories)."""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from _typeshed import WriteableBuffer


def frame_csv(frame: pd.DataFrame, *, target: str, ignore: Collection[str]) -> bytes:
    """``frame`` without its index as UTF-8 CSV (text stays text, missing values are empty
    cells); the target and the ``ignore``d columns may be categories of numbers."""
    loaded = sys.modules.get("pandas")  # a DataFrame's pandas is imported already
    if loaded is None or not isinstance(frame, loaded.DataFrame):
        # a list on an install without pandas was "No module named 'pandas'", and with pandas
        # "'list' object has no attribute 'columns'"; a subclass (GeoDataFrame) is a DataFrame
        raise TypeError(
            "source: give the path of a CSV or Parquet file (str or Path) or a pandas "
            f"DataFrame, got {type(frame).__name__}"
        )
    import pandas as pd

    if isinstance(frame.columns, pd.MultiIndex):
        first = ", ".join(repr(c) for c in list(frame.columns)[:2])
        raise ValueError(
            f"the DataFrame's columns have {frame.columns.nlevels} levels ({first}...); an "
            "upload has one header line of names: join them first, e.g. frame.columns = "
            "['_'.join(map(str, c)) for c in frame.columns]"
        )
    kept_as_they_are = {str(target), *(str(name) for name in ignore)}  # names may be ints
    for name in frame.columns:
        if str(name) in kept_as_they_are:
            continue
        column = frame[name]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            continue
        categories = column.cat.categories
        if pd.api.types.is_numeric_dtype(categories) and not pd.api.types.is_bool_dtype(categories):
            shown = ", ".join(str(c) for c in categories[:5])
            raise ValueError(
                f"column {name!r} is a pandas category of numbers ({shown}"
                f"{', ...' if len(categories) > 5 else ''}), which an upload reads as numbers, "
                "not categories: to have them as categories, give them text labels, e.g. "
                f"frame[{name!r}] = frame[{name!r}].cat.rename_categories(lambda c: f'"
                f"{name}_{{c}}'); to use them as numbers, frame[{name!r}].astype(float)"
            )
    return str(frame.to_csv(index=False)).encode()


def file_sent(handle: io.BufferedReader) -> io.BufferedReader:
    """``handle`` as httpx is to send it: a regular file as it is, its length declared; any
    other (a pipe: ``/dev/stdin``, a process substitution) as a stream of unknown length, sent
    chunked to its end for the API to hold to its upload limit (a 413 past it). httpx took a
    pipe's length from ``fstat`` (0 on Linux, what it holds so far elsewhere) and broke off the
    request once more came ("Too much data for declared Content-Length")."""
    if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        return handle
    return io.BufferedReader(_Unsized(handle))


class _Unsized(io.RawIOBase):
    """A stream with no file descriptor and no position to seek to, so no length to peek."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self._handle = handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._handle.readinto(buffer)
