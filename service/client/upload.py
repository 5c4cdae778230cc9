"""A dataset upload as the client sends it: a file as it is or a DataFrame as CSV, with the form
of its target, task, ignored columns, encoding and missing-value marks; an API too old to know
the marks is refused rather than left to read them as values."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regtune.service.api.schemas.datasets import DatasetOut
from regtune.service.client.errors import UnexpectedAnswer
from regtune.service.client.table import file_sent, frame_csv
from regtune.service.client.transport import Transport, parse

if TYPE_CHECKING:
    import pandas as pd


def send_dataset(
    api: Transport,
    source: str | Path | pd.DataFrame,
    *,
    target: str,
    task: str,
    ignore: str | Sequence[str],
    encoding: str | None,
    missing_values: str | Sequence[str],
) -> DatasetOut:
    """``Client.upload_dataset``: ``source`` sent to the API behind ``api``."""
    marks = [missing_values] if isinstance(missing_values, str) else list(missing_values)
    ignored = [ignore] if isinstance(ignore, str) else list(ignore)  # a str is one column
    form: dict[str, Any] = {"target": target, "task": task, "ignore": ignored}
    if encoding is not None:
        form["encoding"] = encoding
    if marks:
        form["missing_values"] = marks
    if not isinstance(source, str | Path):
        if encoding is not None:
            raise ValueError(
                f"encoding applies to a file; a DataFrame is sent as UTF-8, got {encoding=}"
            )
        table = frame_csv(source, target=target, ignore=ignored)
        response = api.request(
            "POST", "/v1/datasets", files={"file": ("frame.csv", table)}, data=form
        )
    else:
        path = Path(source)
        with path.open("rb") as handle:
            sent = file_sent(handle)
            response = api.request(
                "POST", "/v1/datasets", files={"file": (path.name, sent)}, data=form
            )
    dataset = parse(DatasetOut, response)
    if marks and "missing_values" not in dataset.model_fields_set:
        raise UnexpectedAnswer(
            f"the API at {api.shown_url} does not know missing_values (it is older than this "
            f"client): its dataset {dataset.id} reads {marks} as values, not as missing; "
            "upgrade the API, or write those cells empty"
        )
    return dataset
