"""A model of a semicolon file whose target was read with decimal points (pandas'
``to_csv(sep=";", float_format="%.3f")``) scores a file's target with that mark whatever the
file's other rows hold, as it reads its features (``Encoder.target_decimal`` beside
``Encoder.decimals``). Was: rows ``79.890;1;8.990`` and ``12.500;0;1.250`` scored against
y 8990 and 1250 (no column showing a mark, so read with decimal commas), the same rows beside
``-0.500`` against 8.99 and 1.25, without a word. Where the file's numbers show the other mark,
a warning says so; a model saved before the mark was kept scores as it did.

Fast and in-process, as ``test_predict_recorded_marks``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.model.saved import load
from tests.worker.test_predict_recorded_marks import rows
from tests.worker.test_predict_semicolons import trained

N = 40
NO_MARK = "x;z;y\n79.890;1;8.990\n12.500;0;1.250\n"
"""No column shows a mark of its own: ``8.990`` reads as 8.99 or 8990."""
POINTS = NO_MARK + "50.000;-0.500;4.500\n"
"""The same rows beside one whose ``-0.500`` shows decimal points."""


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x, z = rng.uniform(10, 99, size=N), rng.normal(size=N)
    return pd.DataFrame({"x": x, "z": z, "y": x / 10 + z}).round(3)


@pytest.fixture
def model(api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    train = tmp_path / "points.csv"
    frame().to_csv(train, index=False, sep=";", float_format="%.3f")
    said, path = trained(api, monkeypatch, train, tmp_path / "m.safetensors")
    assert "column 'y' is written with decimal points" in said
    return path


def scored(text: str, model: Path) -> tuple[np.ndarray, list[str]]:
    """The target values ``model`` scores the rows ``text`` against, and what it warns."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        read = load(model).read(text.encode(), filename="rows.csv")
    assert read.y is not None
    return read.y, [" ".join(str(w.message).split()) for w in said]


def metrics(path: Path, model: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["predict", str(path), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)["metrics"]
    return answer


def test_the_target_is_scored_with_the_mark_it_was_trained_with(
    model: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open

    alone, said = scored(NO_MARK, model)
    beside, _ = scored(POINTS, model)
    assert alone.tolist() == [8.99, 1.25] == beside[:2].tolist() and not said
    commas = rows(tmp_path / "commas.csv", "x,z,y\n79.89,1,8.99\n12.5,0,1.25\n")
    assert metrics(rows(tmp_path / "two.csv", NO_MARK), model) == metrics(commas, model)
    with safe_open(str(model), framework="np") as handle:
        assert json.loads(handle.metadata()["encoder"])["target_decimal"] == "."


def test_a_target_the_file_writes_with_the_other_mark_is_said(model: Path) -> None:
    beside_commas, said = scored(NO_MARK.replace("79.890;1", "79.890;0,5"), model)
    assert beside_commas.tolist() == [8.99, 1.25]
    assert (
        "column 'y' shows no decimal mark of its own, so its numbers were read with decimal "
        "points, as when the model was trained: '8.990' at line 2 (data row 1) is 8.99; the "
        "file's other numbers are written with decimal commas (as '0,5' in column 'z' at line 2 "
        "(data row 1)), with which it would be 8990"
    ) in said
    own_commas, said = scored(NO_MARK.replace("8.990", "8,99"), model)
    assert own_commas.tolist() == [8.99, 1250.0]
    assert (
        "column 'y' was read with decimal points when the model was trained, but '8,99' at line "
        "2 (data row 1) reads only with a decimal comma: the column's numbers were read with "
        "decimal commas, as the file writes them, so '1.250' at line 3 (data row 2) is 1250, "
        "where the training file's reading gives 1.25"
    ) in said


def test_a_model_saved_before_the_target_mark_was_kept_scores_as_before(
    model: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(model), framework="np") as handle:
        metadata = dict(handle.metadata())
    encoder = json.loads(metadata["encoder"])
    del encoder["target_decimal"]
    old = tmp_path / "old.safetensors"
    metadata["encoder"] = json.dumps(encoder)
    save_file(load_file(str(model)), str(old), metadata=metadata)
    assert scored(NO_MARK, old)[0].tolist() == [8990.0, 1250.0]
    values, said = scored(POINTS, old)
    assert values[:2].tolist() == [8.99, 1.25]
    # its training file was of decimal commas: no word of "a training file of decimal points"
    assert not any("column 'y'" in line for line in said), said
