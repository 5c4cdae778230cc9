"""A model trained on a semicolon file whose columns were read with decimal points (pandas'
``to_csv(sep=";")``) reads ``1.234`` in them as 1.234 at predict whatever the file's other rows
hold: the model file records the mark each column was read with (``Encoder.decimals``). Was:
``x;z;y`` rows ``1.234;0.5;0.51`` and ``2.500;-0.25;-0.22`` predicted 12.839 and 24.747 (x read
as 1234 and 2500), the same two rows beside ``3001.5;0.5;30.5`` 0.516 and -0.22. Where a file's
numbers show the other mark, predict says so naming the column and a value; a model saved
before the marks were kept reads as it did.

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
from tests.worker.test_predict_semicolons import predicted, trained

N = 60
TWO_ROWS = "x;z;y\n1.234;0.5;0.51\n2.500;-0.25;-0.22\n"


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5000, size=N).round(3)
    z = rng.normal(size=N).round(3)
    return pd.DataFrame({"x": x, "z": z, "y": (x / 100 + z).round(3)})


def rows(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def without_decimals(model: Path, path: Path) -> Path:
    """``model`` as a regtune before the marks were kept wrote it."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(model), framework="np") as handle:
        metadata = dict(handle.metadata())
    encoder = json.loads(metadata["encoder"])
    del encoder["decimals"]
    save_file(
        load_file(str(model)), str(path), metadata={**metadata, "encoder": json.dumps(encoder)}
    )
    return path


@pytest.fixture
def model(api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A model of ``frame`` written by pandas with semicolons and decimal points."""
    train = tmp_path / "points.csv"
    frame().to_csv(train, index=False, sep=";")
    said, path = trained(api, monkeypatch, train, tmp_path / "m.safetensors")
    assert "column 'x' is written with decimal points" in said
    return path


def test_the_same_cells_predict_the_same_whatever_the_other_rows(
    model: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open

    two = predicted(rows(tmp_path / "two.csv", TWO_ROWS), model)
    three = predicted(rows(tmp_path / "three.csv", TWO_ROWS + "3001.5;0.5;30.5\n"), model)
    commas = predicted(rows(tmp_path / "commas.csv", "x,z\n1.234,0.5\n2.5,-0.25\n"), model)
    np.testing.assert_allclose(two, three[:2], rtol=1e-12)
    np.testing.assert_allclose(two, commas, rtol=1e-12)
    np.testing.assert_allclose(two, [0.51, -0.22], atol=0.1)  # x read as 1.234 and 2.5
    with safe_open(str(model), framework="np") as handle:
        assert json.loads(handle.metadata()["encoder"])["decimals"] == {"x": ".", "z": "."}


def test_numbers_written_with_the_other_mark_are_said(model: Path, tmp_path: Path) -> None:
    sheet = rows(tmp_path / "sheet.csv", "x;z\n1.234;0,5\n2.500;-0,25\n")
    result = CliRunner().invoke(app, ["predict", str(sheet), "--model", str(model), "--json"])

    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert (
        "warning: column 'x' shows no decimal mark of its own, so its numbers were read with "
        "decimal points, as when the model was trained: '1.234' at line 2 (data row 1) is 1.234; "
        "the file's other numbers are written with decimal commas (as '0,5' in column 'z' at "
        "line 2 (data row 1)), with which it would be 1234"
    ) in said
    assert (
        "warning: column 'z' was read with decimal points when the model was trained, but '0,5' "
        "at line 2 (data row 1) reads only with a decimal comma: the column's numbers were read "
        "with decimal commas, as the file writes them"
    ) in said
    two = predicted(rows(tmp_path / "two.csv", TWO_ROWS), model)
    np.testing.assert_allclose(json.loads(result.stdout)["predictions"]["prediction"], two)


def test_a_model_saved_before_the_marks_were_kept_reads_as_before(
    model: Path, tmp_path: Path
) -> None:
    old = without_decimals(model, tmp_path / "old.safetensors")
    two = rows(tmp_path / "two.csv", TWO_ROWS)
    x_as_thousands = rows(tmp_path / "thousands.csv", "x,z\n1234,0.5\n2500,-0.25\n")
    np.testing.assert_allclose(predicted(two, old), predicted(x_as_thousands, model), rtol=1e-12)


def test_a_model_of_decimal_points_says_how_a_column_showing_no_mark_was_read(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A model of a comma file (decimal points, no marks recorded) reads ``1.234`` beside
    ``0.5`` as upload reads it, 1.234, and says so (the regtune before the marks were kept read
    it as 1234 for such a model)."""
    train = tmp_path / "commas.csv"
    frame().to_csv(train, index=False)
    _, model = trained(api, monkeypatch, train, tmp_path / "c.safetensors")
    two = rows(tmp_path / "two.csv", TWO_ROWS)
    result = CliRunner().invoke(app, ["predict", str(two), "--model", str(model), "--json"])

    assert result.exit_code == 0, result.output
    assert (
        "warning: column 'x' shows no decimal mark of its own ('1.234' at line 2 (data row 1) is "
        "1.234 with a decimal point, 1234 with a decimal comma): its numbers were read with "
        "decimal points, as the file's other numbers are written (as '0.51' in column 'y' at "
        "line 2 (data row 1)); the model, of a training file of decimal points, records no mark "
        "for the column"
    ) in " ".join(result.stderr.split())
    commas = rows(tmp_path / "commas-rows.csv", "x,z\n1.234,0.5\n2.5,-0.25\n")
    np.testing.assert_allclose(predicted(two, model), predicted(commas, model), rtol=1e-12)
