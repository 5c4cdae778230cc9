"""``regtune predict`` on a laptop: the best-model file run with numpy (``regtune.service.model``)
answers as the worker's torch model does, and a CSV read without pandas gives the features,
targets and warnings that pandas' reader gives."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.ingest.encoder import Encoder, Feature
from regtune.service.model import saved as numpy_model
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import best_model, data, modelfile, refit

CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "regression, MLP with batch norm, 2 folds": (
        "diabetes",
        {"kind": "mlp", "hidden_layers": [8, 4], "batch_norm": True},
        {"folds": 2},
    ),
    "binary, linear, holdout": ("breast_cancer", {"kind": "linear"}, {"holdout": 0.2}),
    "multiclass, MLP with batch norm, 2 folds": (
        "wine",
        {"kind": "mlp", "hidden_layers": [6], "batch_norm": True},
        {"folds": 2},
    ),
}


def written(tmp_path: Path, name: str, model: dict[str, Any], validation: dict[str, Any]) -> Path:
    spec = resolve_task(
        StudySpec.model_validate(
            {
                "name": "numpy",
                "dataset": {"builtin": name},
                "model": model,
                "search_space": {"lambda": 1e-3, "l1_ratio": 0.5, "dropout": 0.1},
                "training": {"solver": "minibatch", "max_epochs": 5, "batch_size": 32},
                "validation": validation,
                "refit": False,  # the fold models themselves: an ensemble with folds
            }
        ),
        "auto",
    )
    path = tmp_path / f"{name}.safetensors"
    fitted = refit.best_fit(spec, {}, {})
    best_model.write(path, data.load({"builtin": name}), fitted, {"trial": 0})
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_the_numpy_model_predicts_and_scores_as_the_torch_model(tmp_path: Path, case: str) -> None:
    name, model, validation = CASES[case]
    path = written(tmp_path, name, model, validation)
    loaded = data.load({"builtin": name})
    theirs, ours = modelfile.load(path), numpy_model.load(path)
    assert len(ours.members) == len(theirs.model.members) == validation.get("folds", 1)
    expected, got = theirs.predict(loaded.X), ours.predict(loaded.X)
    assert list(got) == list(expected)
    for column in expected:
        if expected[column].dtype.kind in "fc":
            np.testing.assert_allclose(got[column], expected[column], rtol=1e-4, atol=1e-5)
        else:
            agree = np.mean(got[column] == expected[column])
            assert agree > 0.99, column  # float32 vs float64 may flip a row on the boundary
    their_scores, our_scores = theirs.score(loaded.X, loaded.y), ours.score(loaded.X, loaded.y)
    assert our_scores.keys() == their_scores.keys()
    for metric, value in their_scores.items():
        assert our_scores[metric] == pytest.approx(value, rel=1e-4, abs=1e-5), metric


@pytest.fixture
def without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """pandas, pyarrow and torch cannot be imported (``pip install regtune`` without extras)."""
    for name in ("pandas", "pyarrow", "torch"):
        monkeypatch.setitem(sys.modules, name, None)


ENCODER = Encoder(
    (Feature("x"), Feature("city", ("bergen", "oslo", "tromso")), Feature("w")),
    target="label",
    classes=("no", "yes"),
)
ROWS = (
    "id,x,city,label,w\n"
    '1,1.5,oslo,yes,"2,5"\n'  # a quoted comma: not a number
    "2, 3e2 ,bergen,no,4\n"
    "\n"
    "3,?,none,yes,-1\n"
    '4,7,"tromso",,0.25\n'
    "5,-2,narvik,no\n"  # an unseen category; a short row: w is missing
)


def read_all(raw: str) -> Any:
    return ENCODER.read(raw.replace('"2,5"', "2.5").encode(), filename="rows.csv")


def test_a_csv_reads_the_same_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    with_pandas = read_all(ROWS)
    with monkeypatch.context() as patch:
        for name in ("pandas", "pyarrow"):
            patch.setitem(sys.modules, name, None)
        plain = read_all(ROWS)
    np.testing.assert_array_equal(plain.X, with_pandas.X)
    np.testing.assert_array_equal(plain.y, with_pandas.y)
    np.testing.assert_array_equal(plain.scored, with_pandas.scored)
    assert plain.unknown == with_pandas.unknown == {"city": ["narvik"]}
    assert np.isnan(plain.X[2, 0]) and np.isnan(plain.X[4, -1])


def test_text_in_a_numeric_column_is_refused_without_pandas(without_pandas: None) -> None:
    from regtune.service.errors import InvalidUpload

    with pytest.raises(InvalidUpload, match="column 'w' holds numbers"):
        ENCODER.read(ROWS.encode(), filename="rows.csv")
    with pytest.raises(InvalidUpload, match="needs pandas and pyarrow"):
        ENCODER.read(b"PAR1" + b"\0" * 16, filename="rows.parquet")


@pytest.mark.parametrize("pandas", [True, False])
@pytest.mark.parametrize(
    ("rows", "said"),
    [
        (
            ROWS.replace('"2,5"', "2.5").replace("0.25", '"2,5"'),
            "column 'w' holds numbers but line 6 (data row 4) has text '2,5'",
        ),
        (
            ROWS.replace("1.5", "?")
            .replace(" 3e2 ", "NA")
            .replace("7", "seven")
            .replace("-2", "b"),
            "column 'x' held numbers when the model was trained; line 6 (data row 4) has text "
            "'seven'",
        ),
    ],
)
def test_a_refused_value_at_predict_is_named_by_its_line(
    monkeypatch: pytest.MonkeyPatch, pandas: bool, rows: str, said: str
) -> None:
    """The line of the file a user opens, the blank line before the row counted, with pandas or
    without it (was: "data row 4", line 6)."""
    from regtune.service.errors import InvalidUpload

    if not pandas:
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(InvalidUpload) as refused:
        ENCODER.read(rows.encode(), filename="rows.csv")
    assert refused.value.message == said


def test_regtune_predict_answers_the_same_without_pandas_or_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, model, validation = CASES["binary, linear, holdout"]
    path = written(tmp_path, name, model, validation)
    loaded = data.load({"builtin": name})
    header = ",".join([*loaded.feature_names, "target"])
    lines = [
        ",".join([*(str(float(v)) for v in row), str(int(y))])
        for row, y in zip(loaded.X, loaded.y, strict=True)
    ]
    table = tmp_path / "rows.csv"
    table.write_text("\n".join([header, *lines]) + "\n")

    def predict() -> tuple[dict[str, Any], str]:
        args = ["predict", str(table), "--model", str(path)]
        as_json = CliRunner().invoke(app, [*args, "--json"])
        as_csv = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out.csv")])
        assert as_json.exit_code == 0 and as_csv.exit_code == 0, as_json.output + as_csv.output
        return json.loads(as_json.stdout), (tmp_path / "out.csv").read_text()

    expected_json, expected_csv = predict()
    with monkeypatch.context() as patch:
        for blocked in ("pandas", "pyarrow", "torch"):
            patch.setitem(sys.modules, blocked, None)
        got_json, got_csv = predict()
    assert got_json == expected_json and got_csv == expected_csv
    assert expected_json["metrics"]["accuracy"] > 0.9
    assert expected_csv.splitlines()[0] == "prediction,probability_0,probability_1"
