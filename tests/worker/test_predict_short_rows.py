"""``regtune predict`` (and ``SavedModel.read`` on a file) says which rows of the file have
fewer fields than its header, as the upload's notes do: how many, the lines of the first, and
that their missing fields were read as missing values (was: at most a warning that a column
had missing values, which the rows did not visibly hold); a row with more fields than the header
is refused naming its line, as upload refuses it.

Fast and in-process, as ``test_predict_semicolons``."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.errors import InvalidUpload
from regtune.service.model import saved
from tests.worker.test_predict_semicolons import commas, frame, trained

SHORT = (
    "2 rows (lines 4, 7) have fewer fields than the header: the missing ones at their end were "
    "read as missing values; if a separator was lost there, correct the file and predict it again"
)


def test_rows_shorter_than_the_header_are_warned_of_by_their_lines(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, model = trained(
        api, monkeypatch, commas(frame(), tmp_path / "train.csv"), tmp_path / "m.safetensors"
    )
    lines = ["sep=,", "x,city", "1.5,oslo", "2.5", "", "3.5,bergen", "-1.5", "0.5,oslo"]
    rows = tmp_path / "rows.csv"
    rows.write_text("\r\n".join(lines) + "\r\n")  # lines 4 and 7 lost their city

    result = CliRunner().invoke(app, ["predict", str(rows), "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert f"warning: {SHORT}" in " ".join(result.stderr.split()), result.stderr
    assert len(result.stdout.splitlines()) == 1 + 5  # the header and every row, predicted

    loaded = saved.load(model)
    with pytest.warns(UserWarning) as said:
        read = loaded.read(rows.read_bytes(), filename=rows.name)
    said_first, *said_then = [str(w.message) for w in said]
    assert said_first == SHORT  # then the cells they lack, filled as regtune predict says
    assert said_then == [
        "column 'city' has 2 missing value(s), and the training file had none "
        "there: they are filled with the most frequent category of the model's training rows"
    ]
    assert read.short.rows == 2 and len(read.X) == 5

    whole = rows.read_bytes().replace(b"2.5\r\n", b"2.5,oslo\r\n").replace(b"-1.5\r\n", b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.read(whole, filename=rows.name)
    (tmp_path / "whole.csv").write_bytes(whole)
    quiet = CliRunner().invoke(app, ["predict", str(tmp_path / "whole.csv"), "--model", str(model)])
    assert quiet.exit_code == 0 and "fewer fields" not in quiet.stderr, quiet.output


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        (["x,city", "1.5,oslo,7", "2.5,bergen,8"], 2),  # a field after the last, every row
        (["x,city", "0,1.5,oslo", "1,2.5,bergen"], 2),  # a row number first, every row
        (["x,city", "1.5,oslo,7", "2.5,bergen"], 2),  # the first row alone
        (["sep=;", "x;city", "1,5;oslo", "2,5;bergen;"], 4),  # past a sep= line, the last row
    ],
)
def test_rows_longer_than_the_header_are_refused_by_their_lines(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    lines: list[str],
    line: int,
) -> None:
    """``regtune predict`` refuses a row with more fields than the header, naming its line and
    the rule, as upload does (was: with every row one field longer, each row's first field read
    as its index: predicted with exit 0 from the shifted columns, or "column 'x' holds numbers
    but ... has text 'oslo'"; the first row alone likewise; the last row alone named without
    the rule)."""
    _, model = trained(
        api, monkeypatch, commas(frame(), tmp_path / "train.csv"), tmp_path / "m.safetensors"
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("\r\n".join(lines) + "\r\n")
    sep = ";" if lines[0] == "sep=;" else ","
    said = (
        f"the CSV cannot be parsed: Expected 2 fields in line {line}, saw 3 (the row has 3 "
        "fields, the header 2; a row may have fewer fields than the header, never more: quote a "
        f"field that holds {sep!r}, and where every line ends with {sep!r}, end the header with "
        "one too)"
    )

    result = CliRunner().invoke(app, ["predict", str(rows), "--model", str(model)])
    assert result.exit_code == 1, result.output
    assert " ".join(result.stderr.split()) == f"error: {said}", result.stderr
    assert not result.stdout, result.stdout
    with pytest.raises(InvalidUpload) as refused:
        saved.load(model).read(rows.read_bytes(), filename=rows.name)
    assert str(refused.value) == said
