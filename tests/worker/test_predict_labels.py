"""``regtune predict`` takes exactly what upload took and answers in the user's own terms
(issue 22, items 3, 4 and 10).

Fast and in-process: the upload is read with ingest's own ``read_table`` and handed to the
worker as the store hands it (``Encoder.from_upload`` of the stored column summary); the best
model is refit by ``regtune.worker.refit.best_fit`` and written by
``regtune.worker.best_model.write``, and the CLI runs under typer's ``CliRunner``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.errors import InvalidUpload
from regtune.service.ingest.columns import read_table
from regtune.service.ingest.encoder import Encoder
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import best_model, data, modelfile, refit
from tests.inprocess import cli_output, run_to_the_end

Saver = Callable[..., Path]


@pytest.fixture
def saved_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Saver:
    """Upload ``raw`` (as the store does), refit a small model on it, write its model file."""
    uploads: dict[str, data.Dataset] = {}
    monkeypatch.setattr(
        "regtune.worker.uploads.load_uploaded", lambda dataset_id, engine=None: uploads[dataset_id]
    )

    def save(
        raw: bytes, *, target: str, task: str = "auto", filename: str = "up.csv", **model: Any
    ) -> Path:
        table = read_table(raw, filename=filename, target=target, task=task)
        dataset_id = hashlib.sha256(raw + f"{target}{task}".encode()).hexdigest()[:32]
        summary = json.loads(json.dumps({"columns": table.columns, "classes": table.classes}))
        uploads[dataset_id] = data.Dataset(
            table.X,
            table.y,
            table.task,
            table.feature_names,
            categorical_groups=tuple(table.groups),
            encoder=Encoder.from_upload(
                summary["columns"], target=target, classes=summary["classes"]
            ),
        )
        return fit_and_write(
            {"id": dataset_id}, table.task, tmp_path / f"{dataset_id}.safetensors", **model
        )

    return save


def fit_and_write(dataset: dict[str, Any], task: str, path: Path, **model: Any) -> Path:
    spec = resolve_task(
        StudySpec.model_validate(
            {
                "name": "labels",
                "dataset": dataset,
                "task": task,
                "model": model or {"kind": "linear"},
                "search_space": {"lambda": 1e-3, "l1_ratio": 0.0, "learning_rate": 0.05},
                "training": {"max_epochs": 30, "batch_size": 16},
                "validation": {"holdout": 0.2},
            }
        ),
        task,
    )
    fitted = refit.best_fit(spec, {}, {})
    best_model.write(path, data.load(spec.dataset.model_dump(mode="json")), fitted, {"trial": 0})
    return path


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["predict", *args])
    return result


def predicted(path: Path, model: Path) -> dict[str, Any]:
    result = run(str(path), "--model", str(model), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def separable(labels: list[Any], n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Two numeric features and a text column that say the class; labels as given."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(labels), size=n)
    k[: len(labels)] = np.arange(len(labels))  # every class at least once
    return pd.DataFrame(
        {
            "x": k * 3.0 + rng.normal(scale=0.3, size=n),
            "w": rng.normal(size=n),
            "city": np.array(["oslo", "bergen", "tromso", "bodo"])[k % 4],
            "label": [labels[i] for i in k],
        }
    )


def csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- item 3


def test_a_missing_column_is_refused_by_name_even_when_the_count_matches(tmp_path: Path) -> None:
    """Diabetes without ``bmi`` but with an ``id``: ten columns again, and no position binding."""
    model = fit_and_write({"builtin": "diabetes"}, "regression", tmp_path / "d.safetensors")
    loaded = data.load({"builtin": "diabetes"})
    frame = pd.DataFrame(loaded.X, columns=loaded.feature_names).assign(target=loaded.y)
    swapped = frame.drop(columns=["bmi"]).assign(id=np.arange(len(frame)))
    assert swapped.shape == frame.shape
    result = run(str(csv(swapped, tmp_path / "swapped.csv")), "--model", str(model))
    assert result.exit_code == 1
    assert "bmi" in result.output and "Traceback" not in result.output


def test_columns_bind_by_name_in_any_order(tmp_path: Path) -> None:
    model = fit_and_write({"builtin": "diabetes"}, "regression", tmp_path / "d.safetensors")
    loaded = data.load({"builtin": "diabetes"})
    frame = pd.DataFrame(loaded.X, columns=loaded.feature_names).assign(target=loaded.y)
    shuffled = frame[list(reversed(frame.columns))].assign(id=1)
    straight = predicted(csv(frame, tmp_path / "a.csv"), model)
    reordered = predicted(csv(shuffled, tmp_path / "b.csv"), model)
    assert np.allclose(
        straight["predictions"]["prediction"], reordered["predictions"]["prediction"]
    )
    assert straight["metrics"]["r2"] > 0.3


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        ([1, 2], "auto"),
        ([1, 2, 3], "multiclass"),
        (["cat", "dog", "eel"], "auto"),
        ([0.5, 2.5], "binary"),
        (["18_24", "25_34", "35_44"], "auto"),  # was 1824, 2534, 3544 (float reads "18_24")
        (["１", "２"], "binary"),  # full-width digits: text at upload, was 1 and 2 at predict
        ([10**19, 2 * 10**19], "binary"),  # past int64: was -9223372036854775808 for both
    ],
    ids=[
        "binary 1/2",
        "multiclass 1/2/3",
        "text labels",
        "fractional labels",
        "underscored labels",
        "full-width digits",
        "integers past int64",
    ],
)
def test_predictions_are_in_the_uploads_own_labels(
    saved_model: Saver, tmp_path: Path, labels: list[Any], task: str
) -> None:
    frame = separable(labels)
    path = csv(frame, tmp_path / "train.csv")
    model = saved_model(path.read_bytes(), target="label", task=task)
    answer = predicted(path, model)
    got = answer["predictions"]["prediction"]
    assert set(got) <= set(labels)
    accuracy = float(np.mean(np.array(got, dtype=object) == frame["label"].to_numpy(dtype=object)))
    assert accuracy > 0.9
    assert answer["metrics"]["accuracy"] == pytest.approx(accuracy)
    probabilities = np.column_stack([answer["predictions"][f"probability_{c}"] for c in labels])
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_a_raw_upload_format_file_with_text_and_missing_tokens_predicts(
    saved_model: Saver, tmp_path: Path
) -> None:
    """A text column as uploaded, ``?`` / ``none`` / empty cells as missing: the file that was
    uploaded is the file predict takes, CSV or Parquet."""
    frame = separable(["no", "yes"])
    path = csv(frame, tmp_path / "train.csv")
    model = saved_model(path.read_bytes(), target="label")
    holes = frame.astype(object)
    holes.loc[0, "x"] = "?"
    holes.loc[1, "city"] = "none"
    holes.loc[2, "w"] = ""
    holes.loc[3, "city"] = "?"
    holed = csv(holes, tmp_path / "holes.csv")
    answer = predicted(holed, model)
    assert len(answer["predictions"]["prediction"]) == len(frame)
    assert all(np.isfinite(answer["predictions"]["probability_yes"]))
    parquet = tmp_path / "rows.parquet"
    frame.drop(columns=["label"]).to_parquet(parquet)
    from_parquet = predicted(parquet, model)
    assert from_parquet["metrics"] is None
    assert from_parquet["predictions"]["prediction"][4:] == answer["predictions"]["prediction"][4:]


def test_an_unseen_category_is_warned_about_and_predicted(
    saved_model: Saver, tmp_path: Path
) -> None:
    frame = separable(["no", "yes"])
    path = csv(frame, tmp_path / "train.csv")
    model = saved_model(path.read_bytes(), target="label")
    novel = frame.assign(city="narvik")
    result = run(str(csv(novel, tmp_path / "novel.csv")), "--model", str(model), "--json")
    assert result.exit_code == 0, result.output
    assert "narvik" in result.stderr
    assert set(json.loads(result.stdout)["predictions"]["prediction"]) <= {"no", "yes"}


def test_raw_rows_as_an_array_are_refused_saying_what_predict_takes(
    saved_model: Saver, tmp_path: Path
) -> None:
    """A frame's ``to_numpy()`` (raw columns without their names, text among them) was refused
    with numpy's own "could not convert string to float: 'oslo'", nothing on what to pass."""
    from regtune.service.model.saved import load

    frame = separable(["no", "yes"])
    model = load(saved_model(csv(frame, tmp_path / "train.csv").read_bytes(), target="label"))
    rows = frame.drop(columns=["label"])
    with pytest.raises(ValueError, match="or a DataFrame of the raw columns, bound by name"):
        model.predict(rows.to_numpy())
    assert len(model.predict(rows)["prediction"]) == len(rows)


def test_a_label_the_model_never_saw_is_named_and_left_out_of_the_score(
    saved_model: Saver, tmp_path: Path
) -> None:
    """The target only scores: every row is predicted (``test_predict_unscorable_target``)."""
    frame = separable([1, 2])
    path = csv(frame, tmp_path / "train.csv")
    model = saved_model(path.read_bytes(), target="label")
    result = run(str(csv(frame.assign(label=7), tmp_path / "seven.csv")), "--model", str(model))
    assert result.exit_code == 0, result.output
    assert "label(s) the model never saw: '7'" in result.stderr
    assert "0 of 60 rows scored (60 with a target value the model cannot score)" in result.stderr


def test_the_model_file_carries_labels_encoder_and_missing_tokens(
    saved_model: Saver, tmp_path: Path
) -> None:
    frame = separable(["cat", "dog", "eel"])
    model = saved_model(csv(frame, tmp_path / "t.csv").read_bytes(), target="label")
    encoder = modelfile.load(model).encoder
    assert encoder is not None
    assert encoder.classes == ("cat", "dog", "eel")
    assert encoder.target == "label"
    assert [f.name for f in encoder.features] == ["x", "w", "city"]
    assert encoder.features[2].categories == ("bergen", "oslo", "tromso")
    assert "?" in encoder.na_tokens and "none" in encoder.na_tokens


def test_a_model_file_saved_before_the_encoder_still_predicts_by_name(tmp_path: Path) -> None:
    model = fit_and_write({"builtin": "diabetes"}, "regression", tmp_path / "d.safetensors")
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(model), framework="pt") as handle:
        metadata = dict(handle.metadata())
    del metadata["encoder"]
    old = tmp_path / "old.safetensors"
    save_file(load_file(str(model)), str(old), metadata=metadata)
    loaded = data.load({"builtin": "diabetes"})
    frame = pd.DataFrame(loaded.X, columns=loaded.feature_names).assign(target=loaded.y)
    answer = predicted(csv(frame, tmp_path / "a.csv"), old)
    assert answer["metrics"]["r2"] > 0.3
    result = run(str(csv(frame.drop(columns=["bmi"]), tmp_path / "b.csv")), "--model", str(old))
    assert result.exit_code == 1 and "bmi" in result.output


# --------------------------------------------------------------------------- ignored columns


def test_a_column_ignored_at_upload_is_not_needed_to_predict(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``datasets upload --ignore id``, a study, ``best --download``, then ``predict`` on rows
    without the id (and on rows that still have it: extra columns are ignored by name)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    frame = pd.DataFrame({"id": np.arange(7000, 7060), "x": x, "y": 3.0 * x + 1.0})
    frame.loc[[4, 9], "y"] = np.nan
    train = csv(frame, tmp_path / "train.csv")
    said = cli_output(
        api, monkeypatch, "datasets", "upload", str(train), "--target", "y", "--ignore", "id"
    )
    assert "58 rows, 1 feature, task regression, 2 rows without a target dropped, " in said
    assert said.endswith("ignored: id"), said
    (dataset,) = api.get("/v1/datasets").json()["items"]
    assert dataset["n_features"] == 1

    definition = {
        "name": "no-id",
        "dataset": {"id": dataset["id"]},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1e-2, "log": True}, "l1_ratio": 0.0},
        "budget": {"n_trials": 2},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"], timeout=300)
    assert study["status"] == "completed", study
    model = tmp_path / "model.safetensors"
    cli_output(api, monkeypatch, "best", study["id"], "--download", str(model))

    without_id = predicted(csv(frame.drop(columns=["id", "y"]), tmp_path / "new.csv"), model)
    assert without_id["metrics"] is None
    assert np.allclose(without_id["predictions"]["prediction"], 3.0 * x + 1.0, atol=0.2)
    with_id = predicted(train, model)
    assert with_id["predictions"]["prediction"] == without_id["predictions"]["prediction"]
    assert with_id["metrics"]["r2"] > 0.99


# --------------------------------------------------------------------------- item 10


def test_two_columns_that_one_hot_encode_to_one_name_are_refused() -> None:
    frame = separable(["no", "yes"])
    frame["city=oslo"] = np.arange(len(frame), dtype=float)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    with pytest.raises(InvalidUpload, match=r"'city' and 'city=oslo'"):
        read_table(buffer.getvalue().encode(), filename="dup.csv", target="label")


def test_a_file_that_is_no_model_is_refused_in_one_line(tmp_path: Path) -> None:
    """The CSV given as the model by mistake: an error naming the file, no traceback."""
    rows = csv(separable(["no", "yes"]), tmp_path / "rows.csv")
    result = run(str(rows), "--model", str(rows))
    assert result.exit_code == 1
    assert f"{rows} is not a regtune model file" in result.output
    assert "Traceback" not in result.output and "╭" not in result.output


def test_a_target_given_by_name_is_the_column_the_warning_names(
    saved_model: Saver, tmp_path: Path
) -> None:
    """``--target city`` on a regression model: the text is in ``city``, and the warning says
    so (not the model's own target column); the rows are predicted, none scored."""
    frame = separable([1.5, 2.5]).assign(price=lambda f: f["x"] * 10.0).drop(columns=["label"])
    path = csv(frame, tmp_path / "houses.csv")
    model = saved_model(path.read_bytes(), target="price", task="regression")
    result = run(str(path), "--model", str(model), "--target", "city")
    assert result.exit_code == 0, result.output
    assert "target column 'city' has text where the model predicts numbers" in result.stderr
    assert "0 of 60 rows scored (60 with a target value the model cannot score)" in result.stderr


def test_json_is_strict_and_out_says_where_it_wrote(saved_model: Saver, tmp_path: Path) -> None:
    """Rows of one class score no AUC: ``--json`` answers null (any JSON parser reads it, as
    NaN it would not), and ``-o`` says where the predictions went."""
    frame = separable(["no", "yes"])
    model = saved_model(csv(frame, tmp_path / "train.csv").read_bytes(), target="label")
    one_class = csv(frame[frame["label"] == "yes"], tmp_path / "yes.csv")
    result = run(str(one_class), "--model", str(model), "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert answer["metrics"]["auc"] is None and answer["metrics"]["accuracy"] is not None
    out = tmp_path / "preds.csv"
    written = run(str(one_class), "--model", str(model), "-o", str(out))
    assert written.exit_code == 0, written.output
    assert f"wrote {len(answer['predictions']['prediction'])} predictions to {out}" in " ".join(
        written.stderr.split()
    )
    assert out.read_text().splitlines()[0].startswith("prediction")


def test_python_predict_binds_a_dataframes_columns_by_name(
    saved_model: Saver, tmp_path: Path
) -> None:
    """``saved.load(path).predict(frame)``: the raw columns of a DataFrame, in any order, with
    text and extra columns, as ``regtune predict`` reads them from a file; an array of the wrong
    width is refused, never broadcast or read by position."""
    from regtune.service.model import saved

    frame = separable(["no", "yes"])
    model = saved_model(csv(frame, tmp_path / "train.csv").read_bytes(), target="label")
    loaded = saved.load(model)
    shuffled = frame[["label", "city", "w", "x"]].assign(id=np.arange(len(frame)))
    by_name = loaded.predict(shuffled)
    from_file = predicted(csv(frame, tmp_path / "rows.csv"), model)["predictions"]
    assert by_name["prediction"].tolist() == from_file["prediction"]
    assert np.allclose(by_name["probability_yes"], from_file["probability_yes"])
    with pytest.warns(UserWarning, match="narvik"):
        loaded.predict(frame.assign(city="narvik"))
    with pytest.raises(InvalidUpload, match="city"):
        loaded.predict(frame.drop(columns=["city"]))
    with pytest.raises(ValueError, match="feature_names order"):
        loaded.predict(frame[["x", "w"]].to_numpy())
    encoded = loaded.read(csv(frame, tmp_path / "again.csv").read_bytes(), filename="again.csv")
    assert loaded.predict(encoded.X)["prediction"].tolist() == from_file["prediction"]
