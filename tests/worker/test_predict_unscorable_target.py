"""At predict the target only scores: a label the model never saw, or text in a regression's
target, leaves its rows out of the score with a warning naming the values, how many rows and
where the first is, and every row is predicted (was: "error: target column 'churn' has label(s)
['maybe'] the model never saw", exit 1, no predictions; text among numbers was refused as an
upload refuses it). A target column empty in every row says "0 of N rows scored" (was nothing
at all)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regtune.service.ingest.decimals import Marks
from regtune.service.ingest.values import scorable
from regtune.service.model.saved import load
from tests.worker.test_predict_labels import Saver, csv, run, saved_model

__all__ = ["saved_model"]  # the fixture, shared with test_predict_labels

N = 60


def rows(target: str) -> pd.DataFrame:
    """One feature that says the class of ``churn`` and the value of ``y`` exactly."""
    x = np.linspace(-3, 3, N)
    return pd.DataFrame(
        {"x": x, target: np.where(x > 0, "yes", "no") if target == "churn" else 2 * x}
    )


def predicted_and_scored(model: Path, path: Path, frame: pd.DataFrame, kept: np.ndarray) -> str:
    """``regtune predict`` of ``path`` (``frame``'s rows): its stderr, once every row is checked
    predicted, the metrics those of the ``kept`` rows alone, and ``--json``'s counts (the rows
    with a target value not kept are ``unscorable_rows``)."""
    result = run(str(path), "--model", str(model), "--out", str(path.with_suffix(".out")))
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(path.with_suffix(".out"))) == N
    answer = json.loads(run(str(path), "--model", str(model), "--json").stdout)
    assert answer["rows"] == N and answer["scored_rows"] == int(kept.sum())
    target = "churn" if "churn" in frame else "y"
    assert answer["unscorable_rows"] == int((~kept & frame[target].notna().to_numpy()).sum())
    clean = frame[kept]
    if "churn" in clean:  # the class codes of no and yes
        y = (clean.pop("churn") == "yes").to_numpy(dtype=np.int64)
    else:
        y = clean.pop("y").to_numpy(dtype=np.float64)
    assert answer["metrics"] == pytest.approx(load(model).score(clean, y))
    return str(result.stderr)


def test_a_label_the_model_never_saw_leaves_its_rows_out_of_the_score(
    saved_model: Saver, tmp_path: Path
) -> None:
    train = rows("churn")
    model = saved_model(csv(train, tmp_path / "train.csv").read_bytes(), target="churn")
    new = train.copy()
    new.loc[[3, 7], "churn"] = "maybe"
    new.loc[5, "churn"] = "Yes"
    kept = ~new["churn"].isin(["maybe", "Yes"]).to_numpy()
    stderr = predicted_and_scored(model, csv(new, tmp_path / "new.csv"), new, kept)
    assert (
        "warning: target column 'churn' has label(s) the model never saw: 'Yes', 'maybe' (its "
        "labels: ['no', 'yes']), in 3 row(s), the first at line 5 (data row 4); those rows are "
        "predicted but left out of the score"
    ) in " ".join(stderr.split())
    assert "57 of 60 rows scored (3 with a target value the model cannot score)" in stderr


def test_text_in_a_regression_target_leaves_its_rows_out_of_the_score(
    saved_model: Saver, tmp_path: Path
) -> None:
    train = rows("y")
    model = saved_model(csv(train, tmp_path / "train.csv").read_bytes(), target="y")
    new = train.astype({"y": object})
    new.loc[2, "y"] = "oops"
    new.loc[4, "y"] = None
    kept = np.ones(N, dtype=bool)
    kept[[2, 4]] = False
    stderr = predicted_and_scored(model, csv(new, tmp_path / "new.csv"), new, kept)
    assert (
        "warning: target column 'y' has text where the model predicts numbers: 'oops', in 1 "
        "row(s), the first at line 4 (data row 3); those rows are predicted but left out of the "
        "score"
    ) in " ".join(stderr.split())
    assert (
        "58 of 60 rows scored (1 without a target value, 1 with a target value the model cannot "
        "score)"
    ) in stderr


def test_the_python_reader_warns_and_scores_the_rest(saved_model: Saver, tmp_path: Path) -> None:
    train = rows("churn")
    saved = load(saved_model(csv(train, tmp_path / "train.csv").read_bytes(), target="churn"))
    new = train.assign(churn=train["churn"].where(train.index != 0, "maybe"))
    with pytest.warns(UserWarning, match=r"label\(s\) the model never saw: 'maybe'"):
        read = saved.read(new.to_csv(index=False).encode(), filename="new.csv")
    assert read.X.shape == (N, 1)
    assert read.scored is not None and read.unscorable is not None and read.y is not None
    assert read.scored.tolist() == [False] + [True] * (N - 1)
    assert read.unscorable.tolist() == [True] + [False] * (N - 1)
    assert len(read.y) == N - 1


@pytest.mark.parametrize("target", ["churn", "y"])
def test_a_target_column_empty_in_every_row_says_none_was_scored(
    saved_model: Saver, tmp_path: Path, target: str
) -> None:
    train = rows(target)
    model = saved_model(csv(train, tmp_path / "train.csv").read_bytes(), target=target)
    path = csv(train.assign(**{target: None}), tmp_path / "empty.csv")
    result = run(str(path), "--model", str(model), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    assert f"0 of {N} rows scored ({N} without a target value)" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_numbers_out_of_range_are_said_apart_from_text_as_written(
    saved_model: Saver, tmp_path: Path, suffix: str
) -> None:
    """A number past upload's limit (``1e300``, ``inf``) is out of range, not text, and shown as
    the file writes it (was: "has text where the model predicts numbers:
    '1000000000000000052504760255204420248704', 'inf'")."""
    train = rows("y")
    model = saved_model(csv(train, tmp_path / "train.csv").read_bytes(), target="y")
    new = train.astype({"y": object})
    new.loc[[3, 8], "y"] = [1e300, -np.inf]
    if suffix == ".csv":
        new.loc[5, "y"] = "oops"
        path = csv(new.astype({"y": str}).replace({"y": {"1e+300": "1e300"}}), tmp_path / "n.csv")
        far, where = "'-inf', '1e300'", "line 5 (data row 4)"
    else:
        path = tmp_path / "new.parquet"
        new.astype({"y": np.float64}).to_parquet(path)
        far, where = "'-inf', '1e+300'", "data row 4"
    kept = np.ones(N, dtype=bool)
    kept[[3, 8] + ([5] if suffix == ".csv" else [])] = False
    stderr = " ".join(predicted_and_scored(model, path, new, kept).split())
    assert (
        f"warning: target column 'y' has value(s) out of range: {far} (|x| must be ≤ 1e+100), "
        f"in 2 row(s), the first at {where}; those rows are predicted but left out of the score"
    ) in stderr
    text = "warning: target column 'y' has text where the model predicts numbers: 'oops', in 1"
    assert (text in stderr) == (suffix == ".csv")


def test_a_target_mixing_decimal_marks_in_a_semicolon_file_scores_one_reading(
    saved_model: Saver, tmp_path: Path
) -> None:
    """A target cell that reads only with a decimal point among ones that read only with the
    semicolon file's decimal comma leaves its row out of the score (was: 'column 'y' mixes
    numbers that read only with a decimal comma … and only with a decimal point', exit 1 and no
    predictions, as upload refuses such a column)."""
    train = rows("y")
    model = saved_model(csv(train, tmp_path / "train.csv").read_bytes(), target="y")
    lines = train.to_csv(index=False, sep=";", decimal=",").splitlines()
    lines[8] = lines[8].split(";")[0] + ";" + repr(float(train.loc[7, "y"]))  # data row 8
    path = tmp_path / "new.csv"
    path.write_text("\n".join(lines) + "\n")
    kept = np.ones(N, dtype=bool)
    kept[7] = False
    stderr = " ".join(predicted_and_scored(model, path, train, kept).split())
    assert (
        f"warning: target column 'y' has number(s) that read only with a decimal point: "
        f"'{float(train.loc[7, 'y'])!r}' (the column's others read with a decimal comma, as "
        f"'{lines[1].split(';')[1]}'), in 1 row(s), the first at line 9 (data row 8); those rows "
        "are predicted but left out of the score"
    ) in stderr
    assert "59 of 60 rows scored (1 with a target value the model cannot score)" in stderr


def test_scorable_reads_a_mixed_column_with_the_mark_more_of_its_numbers_need() -> None:
    values = np.array(["3,5", "3.14", "2", "1.25", None], dtype=object)
    numbers, _, missing, marks = scorable("y", values, decimal=",")
    assert isinstance(marks, Marks) and (marks.kept, marks.example) == ("point", "3.14")
    assert marks.other.tolist() == [True, False, False, False, False]
    assert numbers[1:4].tolist() == [3.14, 2.0, 1.25] and np.isnan(numbers[[0, 4]]).all()
    assert missing.tolist() == [False] * 4 + [True]
