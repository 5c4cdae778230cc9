"""``regtune predict -m model.safetensors model.safetensors`` (the model given for the rows too)
said an upload's "the file looks binary (a NUL byte at offset 2); send CSV text or Parquet",
naming no file; now it names the file and says what predict takes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regtune.service.cli.app import app
from tests.worker.test_predict_numpy import written


def test_a_binary_file_given_as_the_rows_is_named_with_what_predict_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = written(tmp_path, "diabetes", {"kind": "linear"}, {"holdout": 0.2})
    monkeypatch.chdir(model.parent)  # a short name, which a narrow stderr does not fold

    result = CliRunner().invoke(app, ["predict", "-m", model.name, model.name])

    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert said.startswith(f"error: {model.name} looks binary (a NUL byte at offset "), said
    assert "predict takes a CSV or Parquet file of rows" in said, said
    assert "send CSV" not in said, said


def test_parquet_rows_without_pyarrow_are_refused_naming_the_install_not_an_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client install has numpy alone: predict of Parquet rows told the user to "send CSV",
    an upload's words, where nothing is sent."""
    from sklearn.datasets import load_diabetes

    model = written(tmp_path, "diabetes", {"kind": "linear"}, {"holdout": 0.2})
    rows = tmp_path / "rows.parquet"
    load_diabetes(as_frame=True).frame.head(5).to_parquet(rows)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as on an install without it

    result = CliRunner().invoke(app, ["predict", "-m", str(model), str(rows)])

    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "reading Parquet needs pandas and pyarrow (pyarrow is not installed)" in said, said
    assert "pip install pandas pyarrow, or use a CSV file" in said, said
    assert "send CSV" not in said, said
