"""CSV or Parquet: which one a file is, and its named columns read by that format's reader.

No pickle and no eval: CSV goes to pandas' C parser with every cell as text or number (a
leading ``=`` is just a character), Parquet to pyarrow after its schema is checked (``parquet``).
Where pandas is not installed (``pip install regtune`` without extras, for ``regtune predict``),
CSV goes to Python's csv module instead, every cell as text for ``values.classify`` to read as
upload does; Parquet then needs pandas and pyarrow. Binary garbage, JSON, other encodings,
overlong lines, too many columns and duplicate or missing names are refused up front, each with
the byte, line or column at fault (``header``); how a CSV file is separated is ``dialects``'.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.csv_file import read_csv
from regtune.service.ingest.dialects import COMMAS, Dialect
from regtune.service.ingest.encodings import BOM, UTF8, check_encoding, encoding_problem
from regtune.service.ingest.header import Limits
from regtune.service.ingest.marks import NA_TOKENS
from regtune.service.ingest.parquet import read_parquet
from regtune.service.ingest.text_checks import looks_like_text

if TYPE_CHECKING:
    import pandas as pd

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


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
        looks = "; it looks like CSV text" if looks_like_text(raw) else ""
        raise InvalidUpload(
            f"{filename} is not a Parquet file: it does not start with the PAR1 magic bytes{looks}"
        )
    return "csv"


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
