"""Columns a model does not use are left out at predict as upload's ``--ignore`` leaves them
out: never read, checked or counted, as the README says ("extra columns ... are ignored").

Was: every column of the file was read. A tab file's unused ``score`` of decimal commas
(``3,5``) made the model's ``income`` written ``62,636`` read as 62.636 (accuracy 0.85 → 0.48,
without a word), or, where the model's numbers showed decimal points, refused the file; an
unused Parquet timestamp or binary column, two unused columns of one name, an unused name
holding a control character and a thousand unused columns were each refused.

The first test runs a study in-process, as ``test_predict_semicolons`` does (``regtune datasets
upload`` and ``best --download`` against the app under ``TestClient``, ``regtune predict`` under
``CliRunner``); the others read rows with an ``Encoder`` as ``SavedModel.read`` does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from tests.worker.test_predict_semicolons import trained

N = 60


def incomes(n: int, seed: int) -> pd.DataFrame:
    """``y`` says whether income and city are high; ``score`` says nothing of it."""
    rng = np.random.default_rng(seed)
    income = rng.integers(20_000, 120_000, size=n)
    city = rng.choice(["oslo", "bergen"], size=n)
    high = income + 30_000 * (city == "oslo") > 90_000
    score = rng.uniform(1, 5, size=n).round(2)
    return pd.DataFrame(
        {"income": income, "city": city, "score": score, "y": np.where(high, "high", "low")}
    )


def sheet(data: pd.DataFrame, path: Path) -> Path:
    """As a spreadsheet copies it: ``income`` grouped (``62,636``), ``score`` with a decimal
    comma (``3,5``)."""
    written = data.assign(income=[f"{v:,}" for v in data["income"]])
    if "score" in written:
        written["score"] = [f"{v}".replace(".", ",") for v in data["score"]]
    written.to_csv(path, index=False, sep="\t")
    return path


def predict(rows: Path, model: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["predict", str(rows), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_an_unused_column_of_decimal_commas_does_not_change_the_predictions(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    train = sheet(incomes(N, 0), tmp_path / "train.tsv")
    _, model = trained(api, monkeypatch, train, tmp_path / "m.safetensors", "--ignore", "score")

    new = incomes(20, 1)
    with_score = sheet(new, tmp_path / "new.tsv")
    assert b"\t3," in with_score.read_bytes() or b"\t4," in with_score.read_bytes()
    without = sheet(new.drop(columns=["score"]), tmp_path / "new-without.tsv")
    expected = predict(without, model)
    answer = predict(with_score, model)
    assert answer["predictions"] == expected["predictions"]
    assert answer["metrics"] == expected["metrics"] and answer["scored_rows"] == 20
    assert len(set(expected["predictions"]["prediction"])) == 2  # income and city say something


def encoder() -> Encoder:
    return Encoder((Feature("income"), Feature("city", ("bergen", "oslo"))), target="y")


@pytest.mark.parametrize(
    ("raw", "income"),
    [
        (b"score\tincome\tcity\n3,5\t62,636\toslo\n4,25\t1,234\tbergen\n", [62_636, 1_234]),
        (b"income\tscore\tcity\n69.0\t3,5\toslo\n1.5\t4,25\tbergen\n", [69.0, 1.5]),
    ],
    ids=["grouped thousands", "decimal points"],
)
def test_an_unused_column_never_chooses_the_decimal_mark(raw: bytes, income: list[float]) -> None:
    rows = encoder().read(raw, filename="rows.tsv")
    np.testing.assert_array_equal(rows.X, [[income[0], 0, 1], [income[1], 1, 0]])


def test_the_model_s_columns_and_target_still_choose_the_decimal_mark() -> None:
    commas = b"city\tincome\ty\tjunk\noslo\t62,5\t1,5\t1.5\nbergen\t7\t2,25\t2\n"
    rows = encoder().read(commas, filename="rows.tsv")
    np.testing.assert_array_equal(rows.X, [[62.5, 0, 1], [7.0, 1, 0]])
    assert rows.y is not None and rows.y.tolist() == [1.5, 2.25]
    with pytest.raises(InvalidUpload, match="decimal commas, as '1,5' in column 'y'"):
        encoder().read(b"city\tincome\ty\noslo\t62.5\t1,5\n", filename="rows.tsv")


def parquet(table: pa.Table) -> bytes:
    handle = io.BytesIO()
    pq.write_table(table, handle)
    return handle.getvalue()


WIDE = pd.DataFrame({f"u{i}": np.arange(50) for i in range(1_000)}).assign(
    income=[62_636.0, 1_234.0] * 25, city=["oslo", "bergen"] * 25
)
UNUSED = {
    "a Parquet timestamp": parquet(
        pa.table(
            {
                "signup": pa.array([0, 1], type=pa.timestamp("us")),
                "city": ["oslo", "bergen"],
                "income": [62_636.0, 1_234.0],
            }
        )
    ),
    "a Parquet binary": parquet(
        pa.table(
            {
                "city": ["oslo", "bergen"],
                "blob": pa.array([b"\x00\x01", b"\xff"], type=pa.binary()),
                "income": [62_636.0, 1_234.0],
            }
        )
    ),
    "two of one name": b"junk,income,junk,city\na,62636,1,oslo\nb,1234,2,bergen\n",
    "a control character": b'"note\x1b[31m",income,city\na,62636,oslo\nb,1234,bergen\n',
    "a thousand in a CSV": WIDE.to_csv(index=False).encode(),
    "a thousand in Parquet": WIDE.to_parquet(index=False),
}


@pytest.mark.parametrize("raw", list(UNUSED.values()), ids=list(UNUSED))
def test_unused_columns_of_any_type_name_or_number_are_left_out(raw: bytes) -> None:
    filename = "rows.parquet" if raw.startswith(b"PAR1") else "rows.csv"
    rows = encoder().read(raw, filename=filename)
    np.testing.assert_array_equal(rows.X[:2], [[62_636, 0, 1], [1_234, 1, 0]])
    assert rows.unknown == {} and rows.y is None


def test_the_model_s_own_columns_are_still_checked() -> None:
    with pytest.raises(InvalidUpload, match=r"the file lacks column\(s\) \['city'\]"):
        encoder().read(b"income,junk\n1,a\n", filename="rows.csv")
    with pytest.raises(InvalidUpload, match="duplicate column name 'income'"):
        encoder().read(b"income,city,income\n1,oslo,2\n", filename="rows.csv")
    with pytest.raises(InvalidUpload, match="column 'income' held numbers"):
        encoder().read(b"junk,city,income\n1,oslo,x\n", filename="rows.csv")
    signup = pa.array([0], type=pa.timestamp("us"))
    table = pa.table({"income": signup, "city": ["oslo"]})
    with pytest.raises(InvalidUpload, match="column 'income' has Parquet type timestamp"):
        encoder().read(parquet(table), filename="rows.parquet")
