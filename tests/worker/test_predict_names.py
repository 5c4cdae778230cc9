"""Column names that look alike are one name, at upload and at predict: ``größe`` written with a
combining diaeresis (Unicode's decomposed form, as macOS and some exports write it) binds to the
model's ``größe`` (was: "the file lacks column(s) ['größe'] the model was trained on (it needs
2: ['größe', 'b'])"), a Parquet file's names are read as a CSV header's (spaces around them
stripped), and an upload whose header holds both forms is refused as a duplicate name (was: two
features that print as the same name). Category values and class labels are composed alike (was:
a decomposed ``größe`` at predict was a category the model never saw).

Fast and in-process: ``regtune datasets upload`` and ``best --download`` against the app under
``TestClient``, a worker thread runs the study, ``regtune predict`` under typer's ``CliRunner``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.service.uploads import refusal, upload
from tests.worker.test_predict_semicolons import predicted, trained

COMPOSED = unicodedata.normalize("NFC", "größe")
DECOMPOSED = unicodedata.normalize("NFD", "größe")


def rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({COMPOSED: size, "b": b, "y": (3 * size - b).round(6)})


def test_a_decomposed_or_padded_name_predicts_as_the_model_s_own(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert COMPOSED != DECOMPOSED
    train = tmp_path / "sizes.csv"
    rows(60, 0).to_csv(train, index=False)
    _, model = trained(api, monkeypatch, train, tmp_path / "m.safetensors")

    new = rows(8, 1).drop(columns=["y"])
    plain = tmp_path / "new.csv"
    new.to_csv(plain, index=False)
    expected = predicted(plain, model)
    decomposed = tmp_path / "decomposed.csv"
    new.rename(columns={COMPOSED: DECOMPOSED}).to_csv(decomposed, index=False)
    np.testing.assert_array_equal(predicted(decomposed, model), expected)
    padded = tmp_path / "padded.parquet"
    new.rename(columns={COMPOSED: f" {DECOMPOSED} ", "b": "b "}).to_parquet(padded, index=False)
    np.testing.assert_array_equal(predicted(padded, model), expected)
    assert np.ptp(expected) > 1.0


def test_an_upload_whose_names_differ_only_in_their_unicode_form_is_refused(
    api: TestClient,
) -> None:
    data = rows(30, 2).assign(**{DECOMPOSED: np.arange(30.0)})
    message, _ = refusal(upload(api, data.to_csv(index=False).encode()))
    assert message == (
        f"duplicate column name {COMPOSED!r} (columns 1 and 4); column names must be unique"
    )
    parquet = upload(api, data.to_parquet(index=False), filename="d.parquet")
    assert refusal(parquet)[0] == message
    # the target named in the other form is the column
    goal = "Zielgröße"
    target = rows(30, 3).rename(columns={"y": unicodedata.normalize("NFD", goal)})
    answer = upload(api, target.to_csv(index=False).encode(), target=goal)
    assert answer.get("target") == goal and answer["n_features"] == 2, answer


def colours(n: int, seed: int, colour: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    picked = rng.choice(colour, size=n)
    y = (x + 4 * (picked == colour[0])).round(6)
    return pd.DataFrame({"x": x, "colour": picked, "y": y})


def test_a_decomposed_category_value_predicts_as_the_model_s_own(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Category values bind in NFC as names do (was: a decomposed ``größe`` at predict was a
    category the model never saw, all zeros, and predicted as neither level)."""
    train = tmp_path / "colours.csv"
    colours(60, 0, [COMPOSED, "klein"]).to_csv(train, index=False)
    _, model = trained(api, monkeypatch, train, tmp_path / "m.safetensors")

    new = colours(8, 1, [COMPOSED, "klein"]).drop(columns=["y"])
    plain = tmp_path / "new.csv"
    new.to_csv(plain, index=False)
    expected = predicted(plain, model)
    decomposed = tmp_path / "decomposed.csv"
    new.replace({COMPOSED: DECOMPOSED}).to_csv(decomposed, index=False)
    assert DECOMPOSED.encode() in decomposed.read_bytes()
    np.testing.assert_array_equal(predicted(decomposed, model), expected)
    assert np.ptp(expected) > 1.0


def test_an_upload_holding_both_forms_of_a_value_has_one_category(api: TestClient) -> None:
    data = colours(40, 2, [COMPOSED, DECOMPOSED, "klein"])
    answer = upload(api, data.to_csv(index=False).encode())
    column = next(c for c in answer["columns"] if c["name"] == "colour")
    assert column["categories"] == sorted([COMPOSED, "klein"])
    classes = upload(api, data.drop(columns=["y"]).to_csv(index=False).encode(), target="colour")
    assert classes["classes"] == sorted([COMPOSED, "klein"]), classes


def test_a_model_stored_with_decomposed_categories_binds_either_form() -> None:
    """A model saved before values were composed holds the form its file had."""
    from regtune.service.ingest.encoder import Encoder, Feature
    from regtune.service.ingest.header import Limits

    encoder = Encoder((Feature("colour", (DECOMPOSED, "klein")),), classes=(DECOMPOSED, "b"))
    values = np.array([COMPOSED, DECOMPOSED, "klein"], dtype=object)
    X, unknown = encoder.encode({"colour": values}, Limits())
    np.testing.assert_array_equal(X, [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert unknown == {}
    target = encoder.target_values(np.array([DECOMPOSED, COMPOSED, "b"], dtype=object))
    assert target.y.tolist() == [0, 0, 1]
