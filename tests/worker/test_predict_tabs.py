"""A model trained on a comma file predicts rows written with tabs (a ``.tsv`` export, a copy
from a spreadsheet) as it predicts the same rows written with commas (was: refused as "looks
delimited by tabs"), with pandas or without it (``pip install regtune``).

Fast and in-process, as ``test_predict_semicolons``: ``regtune datasets upload`` and ``best
--download`` against the app under ``TestClient``, ``regtune predict`` under ``CliRunner``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from regtune.service.ingest.encoder import Encoder, Feature
from tests.worker.test_predict_semicolons import commas, frame, predicted, trained


def test_tab_rows_predict_as_the_same_rows_written_with_commas(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, model = trained(
        api, monkeypatch, commas(frame(), tmp_path / "plain.csv"), tmp_path / "c.safetensors"
    )
    new = frame().sample(frac=1.0, random_state=1).head(10).drop(columns=["y"])
    new_tabs = tmp_path / "new.tsv"
    new.to_csv(new_tabs, index=False, sep="\t", lineterminator="\r\n")

    expected = predicted(commas(new, tmp_path / "new.csv"), model)
    np.testing.assert_allclose(predicted(new_tabs, model), expected, rtol=1e-9)
    assert np.ptp(expected) > 1.0  # the model says something of x and city


@pytest.mark.parametrize("pandas", [True, False], ids=["pandas", "no-pandas"])
def test_tab_rows_are_read_without_pandas_too(
    monkeypatch: pytest.MonkeyPatch, pandas: bool
) -> None:
    if not pandas:
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    encoder = Encoder((Feature("x"), Feature("city", ("bergen", "new york, ny"))))
    rows = encoder.read(b"x\tcity\n1.5\tnew york, ny\n-2\tbergen\n", filename="rows.tsv")
    np.testing.assert_array_equal(rows.X, [[1.5, 0.0, 1.0], [-2.0, 1.0, 0.0]])
    assert rows.unknown == {}
