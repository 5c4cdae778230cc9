"""Numbers written as text predict as the same numbers, whichever decimal mark writes them, or are
refused naming the values that make the mark ambiguous, never read wrong: a pandas DataFrame of
``"3,14"`` strings given to ``SavedModel.predict`` (was: "column ... held numbers when the model
was trained; data row 1 has text"), and a tab file (a copy from a spreadsheet) whose numbers do
not show their mark, read with the mark of the model's training file (was: ``123,456`` read as
123456 by a model trained on decimal commas).

Fast and in-process: a model refit by ``best_model`` on the built-in diabetes data, and, as
``test_predict_semicolons``, a study on an upload with ``regtune predict`` under ``CliRunner``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.model.saved import load
from regtune.worker import data
from tests.worker.test_predict_labels import fit_and_write
from tests.worker.test_predict_semicolons import commas, frame, predicted, trained


def comma_text(values: pd.Series, digits: int = 6) -> list[str]:
    return [f"{v:.{digits}f}".replace(".", ",") for v in values]


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("model") / "d.safetensors"
    fit_and_write({"builtin": "diabetes"}, "regression", path)
    loaded = data.load({"builtin": "diabetes"})
    rows = pd.DataFrame(loaded.X[:20], columns=loaded.feature_names).round(6)
    return path, rows


def test_a_dataframe_of_decimal_comma_text_predicts_as_its_numbers(
    diabetes: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, rows = diabetes
    model = load(path)
    expected = model.predict(rows)["prediction"]
    written = rows.assign(bmi=comma_text(rows["bmi"]), s5=comma_text(rows["s5"]))
    assert written["bmi"].dtype != np.float64
    np.testing.assert_allclose(model.predict(written)["prediction"], expected, rtol=1e-12)

    in_a_file = tmp_path / "rows.tsv"  # a file of the same text is read the same way
    rows.apply(comma_text).to_csv(in_a_file, index=False, sep="\t")
    np.testing.assert_allclose(model.predict(rows.apply(comma_text))["prediction"], expected)
    np.testing.assert_allclose(predicted(in_a_file, path), expected, rtol=1e-12)


def test_a_dataframe_with_both_decimal_marks_is_refused_naming_both(
    diabetes: tuple[Path, pd.DataFrame],
) -> None:
    path, rows = diabetes
    written = rows.assign(bmi=comma_text(rows["bmi"]), s5=[f"{v:.6f}" for v in rows["s5"]])
    with pytest.raises(InvalidUpload) as refused:
        load(path).predict(written)
    assert refused.value.message.startswith("the numbers are written with decimal commas, as '")
    assert "' in column 'bmi' at data row 1, and with decimal points, as '" in refused.value.message
    assert "' in column 's5' at data row 1, so the thousands" in refused.value.message


def test_grouped_thousands_in_a_dataframe_read_as_a_comma_file_reads_them(
    diabetes: tuple[Path, pd.DataFrame],
) -> None:
    path, rows = diabetes
    model = load(path)
    big = rows.assign(bmi=1234.0)
    written = rows.assign(bmi="1,234")
    np.testing.assert_allclose(
        model.predict(written)["prediction"], model.predict(big)["prediction"], rtol=1e-12
    )


def test_tab_rows_that_do_not_show_their_mark_are_read_with_the_training_files(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    train = frame()
    sheet = tmp_path / "sheet.tsv"  # decimal commas a copy shows: '-1.234,56'
    train.assign(x=comma_text(train["x"], 2), y=comma_text(train["y"], 4)).to_csv(
        sheet, index=False, sep="\t"
    )
    said, model = trained(api, monkeypatch, sheet, tmp_path / "t.safetensors")
    assert "note: the file was read as separated by tabs with decimal commas" in said
    _, comma_model = trained(
        api, monkeypatch, commas(train, tmp_path / "plain.csv"), tmp_path / "c.safetensors"
    )

    new = frame().head(10).drop(columns=["y"]).assign(x=np.linspace(-900.5, 900.5, 10).round(3))
    ambiguous = tmp_path / "new.tsv"  # '123,456' is 123456 with decimal points
    new.assign(x=comma_text(new["x"], 3)).to_csv(ambiguous, index=False, sep="\t")
    expected = predicted(commas(new, tmp_path / "new.csv"), comma_model)
    np.testing.assert_allclose(predicted(ambiguous, model), expected, rtol=1e-9)
    np.testing.assert_allclose(
        predicted(commas(new, tmp_path / "new.csv"), model), expected, rtol=1e-9
    )
