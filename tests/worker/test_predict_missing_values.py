"""A study trained on a file whose missing cells are written ``-`` (uploaded with
``--missing-value -``) predicts what the same study on the file with empty cells predicts: the
model file carries the upload's marks, so ``regtune predict``, ``SavedModel.read`` and
``SavedModel.predict`` of a DataFrame read ``-`` rows as missing, as upload did. A model of
the file with empty cells (as every model saved before marks could be declared) reads as
before: empty cells are missing, a ``-`` among numbers is refused naming the option.

Fast and in-process, as ``test_predict_semicolons``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.ingest.formats import NA_TOKENS
from regtune.service.model.saved import load
from tests.worker import test_predict_semicolons as semicolons
from tests.worker.test_predict_semicolons import predicted, trained


def frame() -> pd.DataFrame:
    data = semicolons.frame().astype(object)
    data.loc[[2, 17, 40], "x"] = None
    data.loc[[5, 33], "city"] = None
    data.loc[9, "y"] = None
    return data


def written(data: pd.DataFrame, path: Path, mark: str = "") -> Path:
    data.fillna(mark).to_csv(path, index=False)
    return path


def without_marks(model: Path, path: Path, *, drop_tokens: bool) -> Path:
    """``model`` as a regtune before declared marks wrote it: its encoder with the built-in
    tokens only, or (older still) without the tokens at all."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(model), framework="np") as handle:
        metadata = dict(handle.metadata())
    encoder = json.loads(metadata["encoder"])
    if drop_tokens:
        del encoder["na_tokens"]
    else:
        encoder["na_tokens"] = list(NA_TOKENS)
    save_file(
        load_file(str(model)), str(path), metadata={**metadata, "encoder": json.dumps(encoder)}
    )
    return path


def test_a_study_on_dash_marks_predicts_as_the_same_study_on_empty_cells(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    said, dash_model = trained(
        api,
        monkeypatch,
        written(frame(), tmp_path / "survey.csv", "-"),
        tmp_path / "d.safetensors",
        "--missing-value",
        "-",
    )
    assert "note: cells written '-' were read as missing values (missing_values)" in said
    _, plain_model = trained(
        api, monkeypatch, written(frame(), tmp_path / "plain.csv"), tmp_path / "p.safetensors"
    )

    new = frame().sample(frac=1.0, random_state=1).head(20).drop(columns=["y"])
    assert new.isna().any(axis=None)
    new_dash = written(new, tmp_path / "new-d.csv", "-")
    new_plain = written(new, tmp_path / "new-p.csv")
    expected = predicted(new_plain, plain_model)
    assert np.isfinite(expected).all() and np.ptp(expected) > 1.0
    np.testing.assert_allclose(predicted(new_dash, dash_model), expected, rtol=1e-9)
    np.testing.assert_allclose(predicted(new_plain, dash_model), expected, rtol=1e-9)

    saved = load(dash_model)
    assert "-" in saved.columns.na_tokens
    rows = saved.read(new_dash.read_bytes(), filename="new.csv")
    np.testing.assert_allclose(saved.predict(rows.X)["prediction"], expected, rtol=1e-9)
    sheet = new.fillna("-")  # a DataFrame read from a spreadsheet holds the marks as text
    np.testing.assert_allclose(saved.predict(sheet)["prediction"], expected, rtol=1e-9)

    refused = CliRunner().invoke(app, ["predict", str(new_dash), "--model", str(plain_model)])
    assert refused.exit_code == 1
    assert "if '-' marks a missing value, declare it when uploading (missing_values='-', " in (
        " ".join(refused.output.split())
    )


@pytest.mark.parametrize("drop_tokens", [False, True], ids=["built-in-tokens", "no-tokens"])
def test_a_model_saved_before_marks_reads_as_before(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, drop_tokens: bool
) -> None:
    _, plain_model = trained(
        api, monkeypatch, written(frame(), tmp_path / "plain.csv"), tmp_path / "p.safetensors"
    )
    from safetensors import safe_open

    with safe_open(str(plain_model), framework="np") as handle:
        stored = json.loads(handle.metadata()["encoder"])
    assert stored["na_tokens"] == list(NA_TOKENS)  # no marks declared: the file as before
    assert set(stored) == {"features", "target", "classes", "na_tokens", "complete", "numbers_only"}

    old = without_marks(plain_model, tmp_path / "old.safetensors", drop_tokens=drop_tokens)
    new = frame().head(20).drop(columns=["y"])
    plain_rows = written(new, tmp_path / "new-p.csv")
    np.testing.assert_allclose(
        predicted(plain_rows, old), predicted(plain_rows, plain_model), rtol=1e-12
    )
    assert load(old).columns.na_tokens == NA_TOKENS
    refused = CliRunner().invoke(
        app, ["predict", str(written(new, tmp_path / "new-d.csv", "-")), "--model", str(old)]
    )
    assert refused.exit_code == 1
    assert "has text '-'; if '-' marks a missing value" in " ".join(refused.output.split())
