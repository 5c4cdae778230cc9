"""A boolean at predict in a column the model learned as numbers is text, refused as upload
refuses ``True`` among numbers and as predict refuses any other text there ("column 'x1' held
numbers when the model was trained; … has text 'True'"), whether the file writes it as text in
a CSV, a Parquet bool or a DataFrame's bool (was: read as 1 and 0 without a word). Upload makes
a boolean column the categories True/False, so a numeric column of a model trained since never
held one. A model of data uploaded when a Parquet bool was read as numbers (a dataset stored
before missing-value marks, a model file saved before this was kept) takes them as 1 and 0, as
it was trained."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.columns import read_table
from regtune.service.ingest.encoder import Encoder
from regtune.service.ingest.header import Limits
from regtune.service.store.db import transaction
from regtune.service.store.repos.datasets import load_arrays
from regtune.service.store.tables import DatasetRow
from tests.service.uploads import upload
from tests.worker.test_predict_labels import Saver, run, saved_model

__all__ = ["saved_model"]  # the fixture, shared with test_predict_labels

N = 40


def numbers() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=N)
    return pd.DataFrame({"x1": x1, "x2": rng.normal(size=N), "y": 2 * x1})


def trained_on_numbers() -> Encoder:
    table = read_table(numbers().to_csv(index=False).encode(), filename="t.csv", target="y")
    columns = json.loads(json.dumps(table.columns))
    return Encoder.from_upload(columns, target="y", classes=None)


def with_flags() -> pd.DataFrame:
    return pd.DataFrame({"x1": [True, False, None], "x2": [0.5, 1.5, 2.5]})


def parquet(frame: pd.DataFrame) -> bytes:
    handle = io.BytesIO()
    frame.to_parquet(handle, index=False)
    return handle.getvalue()


def test_booleans_in_a_numeric_column_are_refused_from_every_format() -> None:
    encoder = trained_on_numbers()
    csv = with_flags().to_csv(index=False).encode()
    assert b"True" in csv
    for refused, read in [
        ("line 2 (data row 1) has text 'True'", lambda: encoder.read(csv, filename="r.csv")),
        (
            "data row 1 has text 'True'",
            lambda: encoder.read(parquet(with_flags()), filename="r.pq"),
        ),
        ("data row 1 has text 'True'", lambda: encoder.encode_frame(with_flags(), Limits())),
    ]:
        with pytest.raises(InvalidUpload) as caught:
            read()
        assert str(caught.value) == (
            f"column 'x1' held numbers when the model was trained; {refused}"
        )


def test_the_saved_model_refuses_them_at_regtune_predict(
    saved_model: Saver, tmp_path: Path
) -> None:
    model = saved_model(numbers().to_csv(index=False).encode(), target="y", task="regression")
    rows = tmp_path / "flags.csv"
    rows.write_text("x1,x2\nTrue,0.5\nFalse,1.5\n")
    result = run(str(rows), "--model", str(model))
    assert result.exit_code == 1
    assert "column 'x1' held numbers when the model was trained; line 2 (data row 1) has text " in (
        " ".join(result.output.split())
    )


def test_a_model_of_data_from_before_booleans_were_text_takes_them_as_one_and_zero() -> None:
    stored = trained_on_numbers().as_dict()
    assert stored["numbers_only"] is True
    assert Encoder.from_dict(stored).numbers_only
    del stored["numbers_only"]  # a model file saved before it was kept
    X, _ = Encoder.from_dict(stored).encode_frame(with_flags(), Limits())
    np.testing.assert_array_equal(X[:, 0], [1.0, 0.0, np.nan])


def test_a_dataset_stored_before_missing_value_marks_gives_such_a_model(api: TestClient) -> None:
    """Marks came after booleans became text: a dataset without them may hold a Parquet bool
    as numbers 0/1 (before, upload read it so)."""
    read = upload(api, numbers().to_csv(index=False).encode())
    assert load_arrays(str(read["id"])).encoder.numbers_only
    with transaction() as session:
        row = session.scalars(select(DatasetRow)).one()
        row.summary = {k: v for k, v in row.summary.items() if k != "missing_values"}
    assert not load_arrays(str(read["id"])).encoder.numbers_only
