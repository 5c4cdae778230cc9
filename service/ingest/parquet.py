"""Parquet bytes → named columns, bounded before its data is read: rows, rows × columns and
decoded bytes come from its metadata, so a few compressed megabytes that decode to gigabytes are
refused at once. It is then read batch by batch with the same limits counted on what was really
decoded (the metadata may lie), text columns stay dictionary-encoded (one copy per distinct
value), and page checksums are verified where the writer stored them."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.header import (
    Limits,
    check_header,
    column_name,
    ignored,
    unnamed_columns,
)

if TYPE_CHECKING:
    import pandas as pd

PARQUET_BATCH_ROWS = 65_536


def read_parquet(
    raw: bytes,
    *,
    target: str | None,
    limits: Limits,
    ignore: Collection[str] = (),
    only: Collection[str] | None = None,
) -> tuple[list[str], list[pd.Series], tuple[int, ...]]:
    """Named columns of Parquet bytes but the ``ignore``d ones and, with ``only``, those not
    among it (``ignored``; never decoded), and which of them (numbered from 1 among the file's
    columns) have no name in the file (``Dialect.unnamed``); nulls are missing, missing-value
    text tokens are read as such by the caller."""
    try:
        import pandas  # noqa: F401
        import pyarrow as pa
    except ModuleNotFoundError as exc:
        raise InvalidUpload(
            f"reading Parquet needs pandas and pyarrow ({exc.name} is not installed): "
            "pip install pandas pyarrow, or use a CSV file"
        ) from None

    opened = _open_parquet(raw)
    meta = opened.metadata
    named, unnamed = _parquet_fields(
        opened.schema_arrow, target=target, limits=limits, ignore=ignore, only=only
    )
    names = [name for name, _ in named]
    fields = [f for _, f in named]
    stored = [f.name for f in fields]  # as the file writes them, which pyarrow selects by
    limits.check_size(meta.num_rows, len(names), decoded=_declared_bytes(meta, stored))
    text = [f.name for f in fields if _is_text(f.type)]
    parquet = _open_parquet(raw, read_dictionary=text)
    chunks: list[list[Any]] = [[] for _ in names]
    rows = decoded = 0
    try:
        for batch in parquet.iter_batches(
            batch_size=PARQUET_BATCH_ROWS, columns=stored, use_threads=False
        ):
            rows += batch.num_rows
            decoded += batch.nbytes
            limits.check_size(rows, len(names), decoded=decoded, what=" (decoded)")
            for i, column in enumerate(batch.columns):
                chunks[i].append(column)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidUpload(f"the Parquet file cannot be read: {exc}") from None
    return (
        names,
        [
            _series(f, name, pa.chunked_array(c, type=f.type if not c else None), limits)
            for name, f, c in zip(names, fields, chunks, strict=True)
        ],
        unnamed,
    )


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


def _parquet_fields(
    schema: Any,
    *,
    target: str | None,
    limits: Limits,
    ignore: Collection[str],
    only: Collection[str] | None,
) -> tuple[list[tuple[str, Any]], tuple[int, ...]]:
    """The data columns of a Parquet schema but the ignored ones, checked like a CSV header, of
    supported types (an ignored column may be of any type: it is never read), each with its
    name as a CSV header's is read (``column_name``); and which of them (numbered from 1) have
    no name in the file."""
    import pyarrow.types as pat

    fields = [f for f in schema if not f.name.startswith("__index_level_")]
    names = [column_name(f.name, i) for i, f in enumerate(fields)]
    ignore = ignored(names, ignore=ignore, only=only)
    unnamed = unnamed_columns([f.name for f in fields])
    check_header(names, target=target, limits=limits, ignore=ignore, unnamed=unnamed)
    named = [(name, f) for name, f in zip(names, fields, strict=True) if name not in ignore]
    given = tuple(i + 1 for i in sorted(unnamed) if names[i] not in ignore)
    for name, f in named:
        kind = _value_type(f.type)
        supported = (
            pat.is_integer(kind)
            or pat.is_floating(kind)
            or pat.is_decimal(kind)  # a database's NUMERIC / DECIMAL (money): numbers
            or pat.is_boolean(kind)
            or pat.is_string(kind)
            or pat.is_large_string(kind)
            or pat.is_null(kind)
        )
        if not supported:
            raise InvalidUpload(
                f"column {name!r} has Parquet type {f.type}; only numbers, booleans and text "
                f"are supported; to upload the file without it: ignore={name!r} (--ignore)"
            )
    return named, given


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


def _numbers(column: Any, kind: Any, name: str) -> np.ndarray:
    """A Parquet column of numbers as float64, as a CSV's are parsed: an integer beyond 2^53
    (a 64-bit id) is its nearest float, as pandas reads it from text (arrow's safe cast refuses
    it), so upload and predict read the column alike whatever the format."""
    import pyarrow as pa
    import pyarrow.types as pat

    stored = column.type  # the file's, named if it cannot be read (not a cast's)
    try:
        if pat.is_dictionary(column.type):
            column = column.cast(kind)
        if pat.is_decimal(kind):  # through its text: arrow's own cast rounds 220.20 otherwise
            column = column.cast(pa.string())
        return np.asarray(column.cast(pa.float64(), safe=False).to_numpy(), dtype=np.float64)
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidUpload(
            f"column {name!r} (Parquet type {stored}) cannot be read as numbers: {exc}"
        ) from None


def _series(field: Any, name: str, column: Any, limits: Limits) -> pd.Series:
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
        return pd.Series(_numbers(column, kind, name), dtype="float64")
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
                f"column {name!r} has a text value of {longest} characters; text values "
                f"are categories of at most {limits.max_text_chars} characters"
            )
    series = column.to_pandas()  # a dictionary column becomes a Categorical: one str per value
    return series.astype("object").where(series.notna(), None)
