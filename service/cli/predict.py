"""Predicting a table with a downloaded best model; no server involved."""

from __future__ import annotations

import csv
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.text import Text

from regtune.service.cli.output import JsonOpt, err, fail, params, print_json, sorted_by_name
from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encodings import UTF8, UTF16_BOMS
from regtune.service.logs import escaped

if TYPE_CHECKING:
    import numpy as np

    from regtune.service.ingest.encoder import Rows
    from regtune.service.ingest.text_checks import LooksBinary


def predict(
    data: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV or Parquet in the upload's format (the same columns, by name).",
        ),
    ],
    model: Annotated[
        Path, typer.Option("--model", "-m", exists=True, dir_okay=False, help="Saved model.")
    ],
    target: Annotated[
        str | None,
        typer.Option(help="Target column to score against (default: the model's, if present)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write predictions here (CSV).")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            metavar="NAME",
            help="The CSV's text encoding (default: UTF-8, or for a file that is not, the "
            "encoding the model's training file was read with, or UTF-16 by its byte-order "
            "mark).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict a file with a downloaded best model; score it if the file has the target column."""
    try:
        from regtune.service.ingest.text_checks import LooksBinary
        from regtune.service.model.saved import load

        saved = load(model)
        with warnings.catch_warnings(record=True) as reading:  # said below, as the others are
            warnings.simplefilter("always")
            raw = data.read_bytes()
            try:
                rows = saved.read(raw, filename=data.name, target=target, encoding=encoding)
            except LooksBinary as exc:
                raise ValueError(_binary(exc, data)) from None
        predictions = saved.predict(rows.X)
        metrics = None
        scored = 0 if rows.scored is None else int(rows.scored.sum())
        if rows.y is not None and rows.scored is not None and scored:
            metrics = saved.score(rows.X[rows.scored], rows.y)
    except (OSError, ValueError, KeyError, InvalidUpload) as exc:
        fail(exc)
    if encoding is None and rows.encoding != UTF8:
        how = "as the model's training file was"
        if raw.startswith(UTF16_BOMS) and rows.encoding != saved.columns.encoding:
            how = "as its byte-order mark says"
        elif rows.encoding != saved.columns.encoding:  # UTF-16 without a mark, in another order
            how = "UTF-16 as the model's training file was, in the byte order its start shows"
        err.print(
            Text(
                f"note: the file is not UTF-8; it was read as {rows.encoding} text, {how} "
                "(--encoding to say otherwise)"
            )
        )
    for warning in reading:  # short rows, unknown categories, empty columns, far values
        err.print(Text(f"warning: {escaped(str(warning.message))}"))
    if saved.encoder is None:
        err.print(
            Text(
                "warning: this model file predates stored column encodings and labels: columns "
                "bind by feature name and classes are answered as codes 0..k-1 (a model saved by "
                "this version carries the labels)"
            )
        )
    n_rows = len(rows.X)
    if out is not None:
        try:
            with out.open("w", newline="") as handle:
                write_csv(predictions, handle)
        except OSError as exc:  # no such directory, a directory, no permission
            fail(f"cannot write the predictions to {out}: {exc.strerror or exc}")
        if not as_json:
            err.print(Text(f"wrote {n_rows} predictions to {out}"))
    if as_json:
        result: dict[str, Any] = {"rows": n_rows, "scored_rows": scored}
        if rows.unscorable is not None:  # the file has the target column
            result["unscorable_rows"] = int(rows.unscorable.sum())
        result["metrics"] = metrics
        if out is None:
            result["predictions"] = {k: v.tolist() for k, v in predictions.items()}
        print_json(result)
        return
    if out is None:
        write_csv(predictions, sys.stdout, shown=True)
    if rows.y is not None:  # the file has the target column: say how much of it scored
        err.print(Text(_scored_line(rows, n_rows, scored, metrics)))


def _scored_line(rows: Rows, n_rows: int, scored: int, metrics: dict[str, float] | None) -> str:
    """How many rows were scored, why the others were not, and the metrics of those that were
    (``0 of N rows scored`` when none could be)."""
    said = f"{n_rows} rows" if scored == n_rows else f"{scored} of {n_rows} rows scored"
    unscorable = 0 if rows.unscorable is None else int(rows.unscorable.sum())
    why = [
        f"{n} {reason}"
        for n, reason in (
            (n_rows - scored - unscorable, "without a target value"),
            (unscorable, "with a target value the model cannot score"),
        )
        if n
    ]
    reasons = f" ({', '.join(why)})" if why else ""
    return f"{said}{reasons}" + ("  " + params(sorted_by_name(metrics)) if metrics else "")


def _binary(refused: LooksBinary, data: Path) -> str:
    """The refusal of a file that is neither Parquet nor text in the encoding it was read with
    (the model given twice, ``-m m m``), in predict's words, naming it and where its text holds
    the NUL: the reader's is an upload's ("send CSV text or Parquet") and names no file."""
    return (
        f"{data} looks binary ({refused.said}), not rows to score: "
        "predict takes a CSV or Parquet file of rows (the same columns as the training data, by "
        "name)"
    )


def write_csv(columns: dict[str, np.ndarray], stream: TextIO, *, shown: bool = False) -> None:
    """Named columns as CSV with a header, numbers in their shortest exact form; ``shown``
    (stdout, a terminal's): each text with the characters that are not printable escaped
    (``\\x1b``), as a class label of the training file's may hold them (a file of ``-o``
    keeps the labels as stored)."""
    writer = csv.writer(stream, lineterminator="\n")
    names: list[Any] = list(columns)
    rows: Iterable[Sequence[Any]] = zip(*(v.tolist() for v in columns.values()), strict=True)
    if shown:
        names = [escaped(name) for name in names]
        rows = ([escaped(v) if isinstance(v, str) else v for v in row] for row in rows)
    writer.writerow(names)
    writer.writerows(rows)
