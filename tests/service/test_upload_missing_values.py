"""An upload names its own missing-value marks (``-``, ``.``, ``n.a.``, as survey tables and R,
SAS and Stata exports write them): the form field ``missing_values`` (repeated), ``regtune
datasets upload --missing-value``, ``Client.upload_dataset(missing_values=...)``. The file then
reads as the same data with empty cells (was: only a 422 telling the user to rewrite the
file). A mark that reads as a number is refused, as are empty, overlong, padded or unprintable
ones and too many; the marks are part of the dataset's identity only when given."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import regtune
from regtune.service.store.repos.datasets import load_arrays
from tests.inprocess import cli_output, cli_result
from tests.service.test_client_optuna import ThroughApp
from tests.service.uploads import refusal, upload

N = 40


def frame() -> pd.DataFrame:
    """Numbers, text and a target, with a missing value in each (None)."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=N) * 30).round(3)
    city = rng.choice(["Tromsø", "Bærum"], size=N)
    y = (x / 10 + rng.normal(size=N)).round(5)
    data = pd.DataFrame({"x": x, "city": city, "y": y}).astype(object)
    data.loc[[3, 11], "x"] = None
    data.loc[5, "city"] = None
    data.loc[7, "y"] = None
    return data


def csv(data: pd.DataFrame, mark: str = "", **options: str) -> bytes:
    return str(data.fillna(mark).to_csv(index=False, **options)).encode()


def parquet(data: pd.DataFrame, mark: str) -> bytes:
    """Every column text, as a statistics office's export writes it, ``mark`` where missing."""
    handle = io.BytesIO()
    data.fillna(mark).astype(str).to_parquet(handle, index=False)
    return handle.getvalue()


def same_data(read: dict[str, object], plain: dict[str, object]) -> None:
    for key in ("columns", "missing", "target_distribution", "n_rows", "feature_names"):
        assert read[key] == plain[key], key
    X, y = load_arrays(str(read["id"])).X, load_arrays(str(plain["id"])).y
    np.testing.assert_array_equal(X, load_arrays(str(plain["id"])).X)
    np.testing.assert_array_equal(load_arrays(str(read["id"])).y, y)


@pytest.mark.parametrize(
    ("raw", "filename", "marks"),
    [
        (csv(frame(), "-"), "d.csv", ["-"]),
        (csv(frame(), "n.a.", sep=";", decimal=","), "d.csv", ["n.a."]),
        (csv(frame(), ".", sep="\t"), "d.tsv", ["."]),
        (csv(frame(), "--"), "d.csv", ["--", "n.a."]),
        (parquet(frame(), "-"), "d.parquet", ["-"]),
    ],
    ids=["dash", "semicolons", "tabs", "two-marks", "parquet-text"],
)
def test_a_file_with_declared_marks_is_the_same_data_as_with_empty_cells(
    api: TestClient, raw: bytes, filename: str, marks: list[str]
) -> None:
    plain = upload(api, csv(frame()))
    read = upload(api, raw, filename=filename, missing_values=marks)
    same_data(read, plain)
    assert read["missing"]["missing_by_column"] == {"x": 2, "city": 1}
    assert read["missing_values"] == sorted(marks)
    shown = ", ".join(repr(m) for m in sorted(marks))
    assert f"cells written {shown} were read as missing values (missing_values)" in read["notes"]
    assert plain["missing_values"] == []
    assert api.get(f"/v1/datasets/{read['id']}").json()["missing_values"] == sorted(marks)


def test_a_word_among_numbers_is_refused_naming_the_option(api: TestClient) -> None:
    """A word no table convention reserves (``unknown``, ``missing``) among numbers: the 422
    says it can be declared a mark (was: only "holds numbers but data row 4 has text
    'unknown'"), and declared, the file reads as the same data with empty cells."""
    message, _ = refusal(upload(api, csv(frame(), "unknown")))
    assert message == (
        "column 'x' holds numbers but line 5 (data row 4) has text 'unknown'; if 'unknown' marks "
        "a missing value, declare it when uploading (missing_values='unknown', --missing-value "
        "'unknown'), else correct the cell"
    )
    read = upload(api, csv(frame(), "unknown"), missing_values="unknown")
    same_data(read, upload(api, csv(frame())))
    typo = frame()
    typo.loc[3, "x"] = "12..5"  # not a word: nothing to declare
    message, _ = refusal(upload(api, csv(typo)))
    assert message == "column 'x' holds numbers but line 5 (data row 4) has text '12..5'"


def test_an_undeclared_mark_is_refused_naming_the_option(api: TestClient) -> None:
    message, fields = refusal(upload(api, csv(frame(), "-")))
    assert message == (
        "column 'x' holds numbers but line 5 (data row 4) has text '-'; if '-' marks a missing "
        "value, declare it when uploading (missing_values='-', --missing-value '-'; a model reads "
        "the marks its upload declared), or leave the cell empty or write NA (the marks read "
        "without it: an empty cell, NA, N/A, n/a, NaN, nan, null, NULL, None, none, ? and #N/A)"
    )
    assert fields == [{"path": "file", "rule": message}]
    parquet_message, _ = refusal(upload(api, parquet(frame(), "-"), filename="d.parquet"))
    assert parquet_message == message.replace("line 5 (data row 4)", "data row 4")  # no lines
    # one form field is one whole mark: a comma does not split it
    joined, _ = refusal(upload(api, csv(frame(), "-"), missing_values="-,n.a."))
    assert joined == message
    assert api.get("/v1/datasets").json()["total"] == 0


NUMBER = (
    "reads as a number: as a missing-value mark it would silently turn that number into a "
    "missing value wherever a column holds it; a mark must be text such as '-', '.' or 'n.a.'"
)


@pytest.mark.parametrize(
    ("marks", "rule"),
    [
        ([""], "a mark must be a non-empty text; an empty cell is read as missing already"),
        (["-", "0"], f"'0' {NUMBER}"),
        (["-1"], f"'-1' {NUMBER}"),
        (["1e5"], f"'1e5' {NUMBER}"),
        (["1,5"], f"'1,5' {NUMBER}"),
        (["1.234,5"], f"'1.234,5' {NUMBER}"),
        (["-inf"], f"'-inf' {NUMBER}"),
        (
            ["FALSE"],
            "'FALSE' reads as a boolean, the category 'False'; a mark must be text such as '-', "
            "'.' or 'n.a.'",
        ),
        (
            [" -"],
            "a mark must not start or end with a space (cells are compared with their spaces "
            "stripped), got ' -'",
        ),
        (["n\ta"], "a mark must be printable text, got 'n\\ta'"),
        (["x" * 41], f"a mark is at most 40 characters, got 41 ({'x' * 40!r}...)"),
        ([f"m{i}" for i in range(21)], "at most 20 marks, got 21"),
    ],
    ids=[
        "empty",
        "zero",
        "negative",
        "exponent",
        "decimal-comma",
        "grouped",
        "infinity",
        "boolean",
        "padded",
        "control",
        "long",
        "many",
    ],
)
def test_a_bad_mark_is_a_422_at_missing_values(
    api: TestClient, marks: list[str], rule: str
) -> None:
    message, fields = refusal(upload(api, csv(frame(), "-"), missing_values=marks))
    assert message == f"missing_values: {rule}"
    assert fields == [{"path": "missing_values", "rule": rule}]
    assert api.get("/v1/datasets").json()["total"] == 0


def test_the_marks_are_part_of_the_identity_only_when_given(api: TestClient) -> None:
    raw = csv(frame().fillna({"city": "Oslo"}), "")  # empty cells only: any marks read alike
    plain = upload(api, raw)
    sha = hashlib.sha256(raw).hexdigest()
    before = hashlib.sha256(f"regtune-dataset-v1\0{sha}\0y\0auto".encode()).hexdigest()[:32]
    assert plain["id"] == before  # the id of a dataset uploaded before marks existed
    dash = upload(api, raw, missing_values=["-"])
    assert dash["id"] != plain["id"]
    assert upload(api, raw, missing_values=["n.a."])["id"] not in (plain["id"], dash["id"])

    def again(*marks: str) -> tuple[int, str]:
        answer = api.post(
            "/v1/datasets",
            files={"file": ("d.csv", raw)},
            data={"target": "y", "missing_values": list(marks)},
        )
        return answer.status_code, answer.json()["id"]

    assert again("-") == (200, dash["id"])
    assert again("-", "-", "NA") == (200, dash["id"])  # repeats and built-in tokens change nothing
    assert again("NA") == (200, plain["id"])
    assert again("n.a.", "-")[1] == again("-", "n.a.")[1] != dash["id"]
    assert api.get("/v1/datasets").json()["total"] == 4


def test_the_cli_declares_marks_and_says_how_it_read(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "survey.csv"
    path.write_bytes(csv(frame().fillna({"city": "n.a."}), "-"))
    said = cli_output(
        api,
        monkeypatch,
        "datasets",
        "upload",
        str(path),
        "--target",
        "y",
        "--missing-value",
        "-",
        "--missing-value=n.a.",
    )
    assert "note: cells written '-', 'n.a.' were read as missing values (missing_values)" in said
    assert "missing values (filled from each training split): x 2, city 1" in said
    refused = cli_result(
        api, monkeypatch, "datasets", "upload", str(path), "--target", "y", "--missing-value", "0"
    )
    assert refused.exit_code == 1
    assert f"missing_values: '0' {NUMBER}" in " ".join(refused.output.split())
    undeclared = cli_result(api, monkeypatch, "datasets", "upload", str(path), "--target", "y")
    assert "(missing_values='-', --missing-value '-';" in " ".join(undeclared.output.split())


def test_the_python_client_declares_marks_for_a_file_and_a_dataframe(
    api: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "survey.csv"
    path.write_bytes(csv(frame(), "-"))
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        plain = client.upload_dataset(frame(), target="y")  # NaN are empty cells
        listed = client.upload_dataset(path, target="y", missing_values=["-"])
        one = client.upload_dataset(path, target="y", missing_values="-")  # a str is one mark
        sheet = client.upload_dataset(frame().fillna("-"), target="y", missing_values=["-"])
        with pytest.raises(regtune.ApiError) as refused:
            client.upload_dataset(path, target="y", missing_values=["1e5"])
    assert listed.missing_values == ["-"]
    assert one.id == listed.id
    assert listed.columns == sheet.columns == plain.columns
    assert refused.value.status == 422
    assert "missing_values: '1e5' reads as a number" in str(refused.value)


class WithoutMarks(ThroughApp):
    """The app's answers as an API older than ``missing_values`` gives them: without the
    field (such an API ignores the form field it does not know; checked by hand against the
    API of the version before, which made a '-' in a text column a category)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        body = json.loads(answer.read())
        if isinstance(body, dict):
            body.pop("missing_values", None)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return httpx.Response(answer.status_code, headers=headers, json=body)


def test_the_client_says_when_the_api_does_not_know_the_marks(
    api: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "survey.csv"
    path.write_bytes(csv(frame().fillna({"x": 0.0, "y": 0.0}), "-"))  # '-' in the text column only
    with regtune.Client("http://regtune.test", transport=WithoutMarks(api)) as client:
        with pytest.raises(regtune.UnexpectedAnswer) as refused:
            client.upload_dataset(path, target="y", missing_values=["-"])
        client.upload_dataset(path, target="y")  # no marks asked: nothing to say
    assert str(refused.value).startswith(
        "the API at http://regtune.test does not know missing_values (it is older than this "
        "client): its dataset "
    )
    assert str(refused.value).endswith(
        " reads ['-'] as values, not as missing; upgrade the API, or write those cells empty"
    )


def test_the_client_takes_one_ignored_column_as_a_str(api: TestClient, tmp_path: Path) -> None:
    """``ignore="id"`` is the column ``id``, as ``missing_values="-"`` is one mark (it was sent
    as the columns ``i`` and ``d``: a 422 naming columns the file does not have)."""
    path = tmp_path / "rows.csv"
    path.write_text("id,x,y\n" + "".join(f"{i},{i / 2},{i % 7}\n" for i in range(30)))
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        one = client.upload_dataset(path, target="y", ignore="id")
        listed = client.upload_dataset(path, target="y", ignore=["id"])
    assert one.id == listed.id and one.ignored == ["id"]


def test_the_help_and_the_api_list_every_built_in_missing_value(api: TestClient) -> None:
    """``regtune datasets upload --help``, the OpenAPI form field and the refusal of a ``-``
    listed 8 of the 12 built-in marks (no n/a, nan, NULL or none)."""
    from typer.testing import CliRunner

    from regtune.service.cli.app import app
    from regtune.service.ingest.marks import NA_WORDS

    shown = CliRunner().invoke(app, ["datasets", "upload", "--help"], env={"COLUMNS": "2000"})
    assert shown.exit_code == 0, shown.output
    assert f"({NA_WORDS})" in " ".join(shown.output.split())
    form = api.get("/openapi.json").json()["components"]["schemas"]
    described = [
        s["properties"]["missing_values"].get("description", "")
        for s in form.values()
        if "missing_values" in s.get("properties", {})
    ]
    assert any(f"({NA_WORDS})" in d for d in described), described
