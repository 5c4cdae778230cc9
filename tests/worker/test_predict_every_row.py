"""``regtune predict`` reads every row of its file, however many: the upload's row limit
(``REGTUNE_DATASET_MAX_ROWS``) bounds what a server stores and trains on, not what predict
answers for (was: a CSV of 2,100,000 rows gave "wrote 2000001 predictions", exit 0, and metrics
of the rows read; a Parquet one was refused naming a setting predict never reads). The limit is
small here, as the API's settings may make it."""

from __future__ import annotations

import functools
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regtune.service.ingest.encoder import Encoder, Feature
from regtune.service.ingest.header import Limits
from tests.worker.test_predict_labels import Saver, run, saved_model

__all__ = ["saved_model"]

LIMIT = 50
ROWS = 60


def frame(n: int = ROWS) -> pd.DataFrame:
    x = np.arange(n, dtype=np.float64) / 10
    return pd.DataFrame({"x": x, "y": 2 * x + 1})


def written(rows: pd.DataFrame, form: str) -> bytes:
    handle = io.BytesIO()
    if form == "parquet":
        rows.to_parquet(handle, index=False)
    else:
        rows.to_csv(handle, index=False)
    return handle.getvalue()


@pytest.mark.parametrize("pandas", [True, False], ids=["pandas", "no-pandas"])
@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_every_row_is_read_whatever_the_upload_limit(
    monkeypatch: pytest.MonkeyPatch, form: str, pandas: bool
) -> None:
    if form == "parquet" and not pandas:
        pytest.skip("Parquet needs pandas and pyarrow")
    raw = written(frame(), form)
    if not pandas:
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    rows = Encoder((Feature("x"),), target="y").read(
        raw, filename=f"rows.{form}", limits=Limits(max_rows=LIMIT, max_cells=LIMIT)
    )
    assert rows.X.shape == (ROWS, 1)
    assert rows.y is not None and len(rows.y) == ROWS


def test_regtune_predict_answers_for_every_row(
    monkeypatch: pytest.MonkeyPatch, saved_model: Saver, tmp_path: Path
) -> None:
    model = saved_model(written(frame(), "csv"), target="y")
    path = tmp_path / "rows.csv"
    path.write_bytes(written(frame(), "csv"))
    # the encoder's default limits as small as an API's settings may make them
    monkeypatch.setattr(
        "regtune.service.ingest.encoder.Limits", functools.partial(Limits, max_rows=LIMIT)
    )
    result = run(str(path), "--model", str(model), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    assert f"wrote {ROWS} predictions" in result.stderr
    assert f"{ROWS} rows  loss=" in result.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == ROWS
    answer = json.loads(run(str(path), "--model", str(model), "--json").stdout)
    assert answer["rows"] == ROWS and answer["scored_rows"] == ROWS


def test_a_line_longer_than_an_upload_takes_is_read(saved_model: Saver, tmp_path: Path) -> None:
    """A row whose text in a column the model does not read makes its line longer than an
    upload's 1 MiB (``REGTUNE_DATASET_MAX_LINE_BYTES``, a server's setting): predict answers for
    it (was: "line 5 is 1126408 bytes long; at most 1048576 bytes per line
    (REGTUNE_DATASET_MAX_LINE_BYTES)", a setting predict never reads)."""
    model = saved_model(written(frame(), "csv"), target="y")
    rows = frame().assign(note="short")
    rows.loc[3, "note"] = "n" * (1100 * 1024)
    path = tmp_path / "rows.csv"
    path.write_bytes(written(rows, "csv"))
    result = run(str(path), "--model", str(model), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    assert f"wrote {ROWS} predictions" in result.stderr
