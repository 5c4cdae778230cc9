"""Reading an uploaded table safely: CSV or Parquet bytes → numeric features and a target.

Nothing in a file is executed or unpickled: CSV cells are text to pandas' C parser (a leading
``=`` is just a character), Parquet is read by pyarrow with a checked schema. Every rejection
names the column, row or byte at fault. Missing feature values stay NaN here; the worker fills
them with statistics of the training split (see ``worker/missing.py``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from service.errors import InvalidUpload
from service.settings import Settings

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
NA_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "?"]
MAX_CELLS = 40_000_000
"""rows x features after encoding; bounds the memory of one parsed upload (float64)."""
MAX_ABS_VALUE = 1e100
TASKS = ("auto", "regression", "binary", "multiclass")


@dataclass(frozen=True)
class Limits:
    max_columns: int = 1_000
    max_categories: int = 50
    min_rows: int = 20
    max_rows: int = 2_000_000
    max_line_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_columns=settings.dataset_max_columns,
            max_categories=settings.dataset_max_categories,
            min_rows=settings.dataset_min_rows,
            max_rows=settings.dataset_max_rows,
            max_line_bytes=settings.dataset_max_line_bytes,
        )


@dataclass
class Table:
    """An upload turned into what a worker trains on, plus what the API reports about it."""

    format: str
    X: np.ndarray
    """float64, rows x features; NaN marks a missing value."""
    y: np.ndarray
    """float64 for regression, int64 class codes 0..k-1 for classification."""
    task: str
    feature_names: list[str]
    groups: list[tuple[int, int]]
    """[start, stop) feature ranges of one-hot encoded text columns (filled by their mode)."""
    columns: list[dict[str, Any]]
    classes: list[str] | None
    target_summary: dict[str, Any]
    missing: dict[str, Any]


# ---------------------------------------------------------------------------- reading bytes


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
            f"the file looks binary (a NUL byte at offset {nul}); send UTF-8 CSV text or Parquet"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidUpload(
            f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} "
            f"(offset {exc.start}); save it as UTF-8"
        ) from None
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate(([-1], ends, [len(raw)]))
    lengths = np.diff(bounds) - 1
    longest = int(np.argmax(lengths))
    if lengths[longest] > limits.max_line_bytes:
        raise InvalidUpload(
            f"line {longest + 1} is {int(lengths[longest])} bytes long; at most "
            f"{limits.max_line_bytes} bytes per line (REGTUNE_DATASET_MAX_LINE_BYTES)"
        )


def _delimiter_hint(header: list[str]) -> str:
    if len(header) != 1:
        return ""
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if sep in header[0]:
            return f"; the header is one column, so the file looks delimited by {name}: use commas"
    return ""


def _check_header(names: list[str], *, target: str, limits: Limits, hint: str = "") -> None:
    if len(names) - 1 > limits.max_columns:
        raise InvalidUpload(
            f"the file has {len(names)} columns; at most {limits.max_columns + 1} "
            "(REGTUNE_DATASET_MAX_COLUMNS features plus the target)"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InvalidUpload(
                f"duplicate column name {name!r} (columns {seen[name] + 1} and {i + 1}); "
                "column names must be unique"
            )
        seen[name] = i
    if target not in seen:
        shown = ", ".join(repr(n[:40]) for n in names[:8]) + (", ..." if len(names) > 8 else "")
        raise InvalidUpload(f"target column {target!r} is not in the file (columns: {shown}){hint}")


def _read_csv(raw: bytes, *, target: str, limits: Limits) -> tuple[list[str], list[pd.Series]]:
    _check_text(raw, limits)
    text_start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    first_end = raw.find(b"\n", text_start)
    first = raw[text_start : first_end if first_end >= 0 else len(raw)].decode("utf-8")
    if not first.strip():
        raise InvalidUpload("the first line is empty; it must be the header with column names")
    header = next(csv.reader([first.rstrip("\r")]))
    names = [n.strip() or f"column_{i + 1}" for i, n in enumerate(header)]
    _check_header(names, target=target, limits=limits, hint=_delimiter_hint(header))
    try:
        frame = pd.read_csv(
            io.BytesIO(raw[text_start:]),
            header=None,
            skiprows=1,
            names=list(range(len(names))),
            keep_default_na=False,
            na_values=NA_TOKENS,
            skipinitialspace=True,
            engine="c",
            encoding="utf-8",
            nrows=limits.max_rows + 1,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=list(range(len(names))))
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        message = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise InvalidUpload(f"the CSV cannot be parsed: {message}") from None
    return names, [frame[i] for i in range(len(names))]


def _read_parquet(raw: bytes, *, target: str, limits: Limits) -> tuple[list[str], list[pd.Series]]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.types as pat

    try:
        parquet = pq.ParquetFile(pa.BufferReader(raw))
        schema = parquet.schema_arrow
        meta = parquet.metadata
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidUpload(f"the Parquet file cannot be read: {exc}") from None
    fields = [f for f in schema if not f.name.startswith("__index_level_")]
    names = [f.name for f in fields]
    _check_header(names, target=target, limits=limits)
    if meta.num_rows > limits.max_rows:
        raise InvalidUpload(
            f"the file has {meta.num_rows} rows; at most {limits.max_rows} "
            "(REGTUNE_DATASET_MAX_ROWS)"
        )
    for f in fields:
        kind = f.type.value_type if pat.is_dictionary(f.type) else f.type
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
                "are supported"
            )
    try:
        table = parquet.read(columns=names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidUpload(f"the Parquet file cannot be read: {exc}") from None
    series: list[pd.Series] = []
    for f, column in zip(fields, table.columns, strict=True):
        kind = f.type.value_type if pat.is_dictionary(f.type) else f.type
        if pat.is_dictionary(f.type):
            column = column.cast(kind)
        if pat.is_boolean(kind) or pat.is_integer(kind) or pat.is_floating(kind):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            series.append(pd.Series(values, dtype="float64"))
        elif pat.is_null(kind):
            series.append(pd.Series(np.full(len(column), np.nan)))
        else:
            series.append(pd.Series(column.to_pylist(), dtype="object"))
    return names, series


# ---------------------------------------------------------------------------- columns


@dataclass
class Column:
    name: str
    numeric: np.ndarray | None
    """float64 with NaN for missing, when the column holds numbers."""
    text: np.ndarray | None
    """object array of stripped strings (None for missing), when it holds text."""
    missing: np.ndarray


def _classify(name: str, values: pd.Series) -> Column:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        return _numeric(name, numbers)
    strings = values.astype("object").where(values.notna(), None)
    stripped = np.array(
        [None if v is None else str(v).strip() for v in strings.to_numpy()], dtype=object
    )
    missing = np.array([v is None or v in NA_TOKENS for v in stripped], dtype=bool)
    if missing.all():
        raise InvalidUpload(f"column {name!r} is empty in every row")
    numbers = pd.to_numeric(pd.Series(stripped).where(~missing), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    text = ~missing & np.isnan(numbers)
    if not text.any():
        return _numeric(name, numbers)
    if (~missing & ~text).any():
        row = int(np.flatnonzero(text)[0])
        shown = str(stripped[row])[:40]
        raise InvalidUpload(
            f"column {name!r} holds numbers but data row {row + 1} has text {shown!r}"
        )
    stripped[missing] = None
    return Column(name, None, stripped, missing)


def _numeric(name: str, numbers: np.ndarray) -> Column:
    missing = np.isnan(numbers)
    if missing.all():
        raise InvalidUpload(f"column {name!r} is empty in every row")
    bad = ~missing & ~(np.abs(np.nan_to_num(numbers, nan=0.0)) <= MAX_ABS_VALUE)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidUpload(
            f"column {name!r} has a value out of range at data row {row + 1} "
            f"({numbers[row]!r}; |x| must be ≤ {MAX_ABS_VALUE:g})"
        )
    return Column(name, numbers, None, missing)


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------------- target


def _target(column: Column, task: str, limits: Limits) -> tuple[str, np.ndarray, list[str] | None]:
    """Return the task, y for the rows where the target is present, and the class labels."""
    keep = ~column.missing
    if column.text is not None:
        if task == "regression":
            first = str(column.text[keep][0])[:40]
            raise InvalidUpload(
                f"task regression needs a numeric target; {column.name!r} holds text ({first!r})"
            )
        labels, codes = np.unique(column.text[keep].astype(str), return_inverse=True)
        classes = [str(v) for v in labels]
    else:
        assert column.numeric is not None
        values = column.numeric[keep]
        distinct = np.unique(values)
        if task == "auto":
            task = "binary" if len(distinct) == 2 else "regression"
        if task == "regression":
            if len(distinct) < 2:
                raise InvalidUpload(f"target column {column.name!r} is constant")
            return task, values.astype(np.float64), None
        classes = [_label(float(v)) for v in distinct]
        codes = np.searchsorted(distinct, values)
    if len(classes) < 2:
        raise InvalidUpload(f"target column {column.name!r} has one class ({classes[0]!r})")
    if task == "auto":
        task = "binary" if len(classes) == 2 else "multiclass"
    if task == "binary" and len(classes) != 2:
        raise InvalidUpload(
            f"task binary needs exactly 2 classes; {column.name!r} has {len(classes)}"
        )
    if len(classes) > limits.max_categories:
        raise InvalidUpload(
            f"target column {column.name!r} has {len(classes)} classes; at most "
            f"{limits.max_categories} (REGTUNE_DATASET_MAX_CATEGORIES)"
        )
    return task, codes.astype(np.int64), classes


def target_summary(y: np.ndarray, task: str, classes: list[str] | None) -> dict[str, Any]:
    if task != "regression":
        assert classes is not None
        counts = np.bincount(y, minlength=len(classes))
        return {
            "kind": "classes",
            "classes": [
                {"label": c, "count": int(n), "fraction": round(float(n) / len(y), 6)}
                for c, n in zip(classes, counts, strict=True)
            ],
        }
    counts, edges = np.histogram(y, bins=10)
    q = np.quantile(y, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "kind": "numeric",
        "min": float(y.min()),
        "max": float(y.max()),
        "mean": float(y.mean()),
        "std": float(y.std()),
        "quantiles": {
            k: float(v) for k, v in zip(("p05", "p25", "p50", "p75", "p95"), q, strict=True)
        },
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


# ---------------------------------------------------------------------------- the whole table


Encoded = tuple[np.ndarray, list[str], list[tuple[int, int]], list[dict[str, Any]]]


def _encode(features: list[Column], keep: np.ndarray, limits: Limits) -> Encoded:
    n = int(keep.sum())
    width = sum(1 if c.text is None else len(set(c.text[keep]) - {None}) for c in features)
    if width > limits.max_columns:
        raise InvalidUpload(
            f"one-hot encoding gives {width} features; at most {limits.max_columns} "
            "(REGTUNE_DATASET_MAX_COLUMNS)"
        )
    if n * width > MAX_CELLS:
        raise InvalidUpload(
            f"{n} rows x {width} features is more than {MAX_CELLS} values; upload fewer rows"
        )
    X = np.empty((n, width), dtype=np.float64)
    names: list[str] = []
    groups: list[tuple[int, int]] = []
    columns: list[dict[str, Any]] = []
    for col in features:
        start = len(names)
        missing = col.missing[keep]
        if col.text is None:
            assert col.numeric is not None
            X[:, start] = col.numeric[keep]
            names.append(col.name)
            info: dict[str, Any] = {"name": col.name, "kind": "numeric"}
        else:
            text = col.text[keep]
            present = text[~missing].astype(str)
            categories = sorted(set(present.tolist()))
            if len(categories) > limits.max_categories:
                raise InvalidUpload(
                    f"column {col.name!r} has {len(categories)} distinct text values; at most "
                    f"{limits.max_categories} are one-hot encoded (REGTUNE_DATASET_MAX_CATEGORIES)"
                )
            codes = np.full(n, -1)
            codes[~missing] = np.searchsorted(np.array(categories, dtype=object), present)
            block = (codes[:, None] == np.arange(len(categories))[None, :]).astype(np.float64)
            block[missing] = np.nan
            X[:, start : start + len(categories)] = block
            names += [f"{col.name}={c}" for c in categories]
            groups.append((start, start + len(categories)))
            info = {"name": col.name, "kind": "categorical", "categories": categories}
        info["n_missing"] = int(missing.sum())
        info["features"] = [start, len(names)]
        columns.append(info)
    return X, names, groups, columns


def read_table(
    raw: bytes, *, filename: str, target: str, task: str = "auto", limits: Limits | None = None
) -> Table:
    """Parse, check and encode an upload; raise ``InvalidUpload`` naming the first problem."""
    limits = limits or Limits()
    if task not in TASKS:
        raise InvalidUpload(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if not raw:
        raise InvalidUpload("the file is empty")
    fmt = detect_format(raw, filename)
    reader = _read_parquet if fmt == "parquet" else _read_csv
    names, values = reader(raw, target=target, limits=limits)
    n_rows = len(values[0]) if values else 0
    if n_rows == 0:
        raise InvalidUpload("the file has a header but no data rows")
    if n_rows > limits.max_rows:
        raise InvalidUpload(
            f"the file has more than {limits.max_rows} rows (REGTUNE_DATASET_MAX_ROWS)"
        )
    columns = [_classify(name, v) for name, v in zip(names, values, strict=True)]
    target_col = columns[names.index(target)]
    features = [c for c in columns if c.name != target]
    if not features:
        raise InvalidUpload("the file has no feature columns besides the target")
    keep = ~target_col.missing
    if int(keep.sum()) < limits.min_rows:
        raise InvalidUpload(
            f"the file has {int(keep.sum())} rows with a target value; at least "
            f"{limits.min_rows} are needed (REGTUNE_DATASET_MIN_ROWS)"
        )
    resolved, y, classes = _target(target_col, task, limits)
    X, feature_names, groups, encoded = _encode(features, keep, limits)
    missing = {
        "policy": "impute",
        "numeric": "median of the training split",
        "categorical": "mode of the training split",
        "fitted_on": "the training split of each fold, when a trial trains",
        "missing_by_column": {c["name"]: c["n_missing"] for c in encoded if c["n_missing"]},
        "rows_with_missing": int(np.isnan(X).any(axis=1).sum()),
        "target_missing_rows_dropped": int((~keep).sum()),
    }
    return Table(
        format=fmt,
        X=X,
        y=y,
        task=resolved,
        feature_names=feature_names,
        groups=groups,
        columns=encoded,
        classes=classes,
        target_summary=target_summary(y, resolved, classes),
        missing=missing,
    )
