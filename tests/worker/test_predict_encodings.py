"""A study trained on a cp1252 CSV (Excel's on Windows, uploaded with ``--encoding cp1252``)
predicts what the same study on the same data in UTF-8 predicts, from rows in either encoding:
``regtune predict`` reads a file that is not UTF-8 with the encoding the training file was read
with, and says so, or with ``--encoding``; a model of a UTF-8 file refuses cp1252 rows naming the
option (was: no option, and "save it as UTF-8").

Fast and in-process, as ``test_predict_semicolons``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from regtune.service.model.saved import load
from tests.worker import test_predict_semicolons as semicolons
from tests.worker.test_predict_semicolons import predicted, trained

PLACES = {"oslo": "Tromsø", "bergen": "Bærum"}


def frame() -> pd.DataFrame:
    data = semicolons.frame()
    return data.assign(city=data["city"].map(PLACES))


def written(data: pd.DataFrame, path: Path, encoding: str) -> Path:
    data.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path


def test_a_cp1252_study_predicts_as_the_same_study_in_utf8(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    train = written(frame(), tmp_path / "excel.csv", "cp1252")
    said, cp1252_model = trained(
        api, monkeypatch, train, tmp_path / "w.safetensors", "--encoding", "cp1252"
    )
    assert "note: the file was read as cp1252 text (encoding=cp1252)" in said
    _, utf8_model = trained(
        api,
        monkeypatch,
        written(frame(), tmp_path / "plain.csv", "utf-8"),
        tmp_path / "u.safetensors",
    )

    new = frame().sample(frac=1.0, random_state=1).head(10).drop(columns=["y"])
    new_cp1252 = written(new, tmp_path / "new-w.csv", "cp1252")
    new_utf8 = written(new, tmp_path / "new-u.csv", "utf-8")
    expected = predicted(new_utf8, utf8_model)
    np.testing.assert_allclose(predicted(new_cp1252, cp1252_model), expected, rtol=1e-9)
    np.testing.assert_allclose(predicted(new_utf8, cp1252_model), expected, rtol=1e-9)
    assert np.ptp(expected) > 1.0  # the model says something of x and city

    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(new_cp1252), "--model", str(cp1252_model)])
    assert result.exit_code == 0, result.output
    assert (
        "note: the file is not UTF-8; it was read as cp1252 text, as the model's training file "
        "was (--encoding to say otherwise)"
    ) in " ".join(result.stderr.split())

    refused = runner.invoke(app, ["predict", str(new_cp1252), "--model", str(utf8_model)])
    assert refused.exit_code != 0
    assert "pass encoding=cp1252 (--encoding cp1252)" in " ".join(refused.output.split())
    asked = runner.invoke(
        app,
        ["predict", str(new_cp1252), "--model", str(utf8_model), "--encoding", "cp1252", "--json"],
    )
    assert asked.exit_code == 0, asked.output

    saved = load(cp1252_model)
    rows = saved.read(new_cp1252.read_bytes(), filename="new.csv", encoding="cp1252")
    np.testing.assert_allclose(saved.predict(rows.X)["prediction"], expected, rtol=1e-9)
    assert rows.encoding == "cp1252"


def test_a_file_neither_utf8_nor_the_training_files_encoding_is_refused_saying_both() -> None:
    encoder = Encoder((Feature("x"), Feature("city", ("Bærum", "Tromsø"))), encoding="cp1252")
    rows = encoder.read("x,city\n1.5,Tromsø\n".encode("cp1252"), filename="rows.csv")
    np.testing.assert_array_equal(rows.X, [[1.5, 0.0, 1.0]])
    assert rows.encoding == "cp1252"
    with pytest.raises(InvalidUpload) as refused:
        encoder.read(b"x,city\n1.5,Troms\x81\n", filename="rows.csv")
    assert refused.value.message == (
        "the file is neither UTF-8 nor cp1252 text (the encoding the model's training file was "
        "read with): byte 0x81 at line 2 (offset 16); pass the encoding it was saved in: "
        "--encoding NAME"
    )
