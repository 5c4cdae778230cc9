"""``regtune predict`` reads UTF-16 rows (Excel's "Unicode Text") as upload reads them: with
``--encoding utf-16``, with the encoding the model's training file was read with (a byte-order
mark or none), or, for a model of another encoding, by the file's UTF-16 byte-order mark. Was:
"error: rows.txt looks binary (a NUL byte at offset 3), not rows to score", whatever was given,
as any file holding a NUL byte was refused before its encoding was considered. A file that is
no text (the model given as the rows) is still refused as binary.

Fast and in-process, as ``test_predict_semicolons``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from tests.worker import test_predict_semicolons as semicolons
from tests.worker.test_predict_semicolons import trained


def written(data: pd.DataFrame, path: Path, encoding: str) -> Path:
    data.to_csv(path, index=False, sep="\t", encoding=encoding, lineterminator="\r\n")
    return path


def predicted(rows: Path, model: Path, *options: str) -> np.ndarray:
    result = CliRunner().invoke(
        app, ["predict", str(rows), "--model", str(model), "--json", *options]
    )
    assert result.exit_code == 0, result.output
    return np.array(json.loads(result.stdout)["predictions"]["prediction"], dtype=float)


def notes(rows: Path, model: Path) -> str:
    """What ``regtune predict`` says on stderr besides the predictions."""
    result = CliRunner().invoke(app, ["predict", str(rows), "--model", str(model)])
    assert result.exit_code == 0, result.output
    return " ".join(result.stderr.split())


def test_utf16_rows_predict_as_the_same_rows_in_utf8(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = semicolons.frame()
    train = written(data, tmp_path / "unicode.txt", "utf-16")
    said, model = trained(
        api, monkeypatch, train, tmp_path / "u.safetensors", "--encoding", "utf-16"
    )
    assert "note: the file was read as utf-16 text (encoding=utf-16)" in said
    _, utf8_model = trained(
        api, monkeypatch, written(data, tmp_path / "plain.txt", "utf-8"), tmp_path / "p.safetensors"
    )

    new = data.sample(frac=1.0, random_state=1).head(10).drop(columns=["y"])
    expected = predicted(written(new, tmp_path / "new.txt", "utf-8"), utf8_model)
    with_mark = written(new, tmp_path / "new-bom.txt", "utf-16")
    without = written(new, tmp_path / "new-le.txt", "utf-16-le")
    assert without.read_bytes()[1:2] == b"\0" and not without.read_bytes().startswith(b"\xff\xfe")
    for rows, options in (
        (with_mark, ()),
        (with_mark, ("--encoding", "utf-16")),
        (without, ()),
        (without, ("--encoding", "utf-16-le")),
    ):
        np.testing.assert_allclose(predicted(rows, model, *options), expected, rtol=1e-9)
    assert (
        "note: the file is not UTF-8; it was read as utf-16-le text, UTF-16 as the model's "
        "training file was, in the byte order its start shows (--encoding to say otherwise)"
    ) in notes(without, model)
    assert (
        "note: the file is not UTF-8; it was read as utf-16 text, as the model's training file "
        "was (--encoding to say otherwise)"
    ) in notes(with_mark, model)

    np.testing.assert_allclose(predicted(with_mark, utf8_model), expected, rtol=1e-9)
    assert (
        "note: the file is not UTF-8; it was read as utf-16 text, as its byte-order mark says "
        "(--encoding to say otherwise)"
    ) in notes(with_mark, utf8_model)

    monkeypatch.chdir(tmp_path)  # a short name, which a narrow stderr does not fold
    refused = CliRunner().invoke(
        app, ["predict", "-m", model.name, model.name, "--encoding", "utf-16"]
    )
    assert refused.exit_code == 1
    said = " ".join(refused.output.split())
    assert said.startswith(
        f"error: {model.name} looks binary (read as utf-16 text, its character "
    ), said


def with_encoding(model: Path, path: Path, encoding: str) -> Path:
    """``model`` as if its training file had been read in ``encoding``."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(model), framework="np") as handle:
        metadata = dict(handle.metadata())
    metadata["encoder"] = json.dumps({**json.loads(metadata["encoder"]), "encoding": encoding})
    save_file(load_file(str(model)), str(path), metadata=metadata)
    return path


def test_utf16_rows_of_the_other_byte_order_predict_as_the_same_rows(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A model of a UTF-16-BE file given UTF-16 with a byte-order mark or UTF-16-LE without one,
    and a model of UTF-16 given UTF-16-BE without a mark, read each file in its own byte order
    (was: "the file lacks column(s) ['x', 'city'] the model was trained on", the file decoded
    in the model's order)."""
    data = semicolons.frame()
    big = written(data, tmp_path / "big.txt", "utf-16-be")
    _, model = trained(
        api, monkeypatch, big, tmp_path / "be.safetensors", "--encoding", "utf-16-be"
    )
    either = with_encoding(model, tmp_path / "either.safetensors", "utf-16")

    new = data.sample(frac=1.0, random_state=1).head(10).drop(columns=["y"])
    new_big = written(new, tmp_path / "new-be.txt", "utf-16-be")
    expected = predicted(new_big, model)
    with_mark = written(new, tmp_path / "new-bom.txt", "utf-16")
    little = written(new, tmp_path / "new-le.txt", "utf-16-le")
    for rows, reader in ((with_mark, model), (little, model), (new_big, either)):
        np.testing.assert_allclose(predicted(rows, reader), expected, rtol=1e-9)
    assert (
        "it was read as utf-16 text, as its byte-order mark says (--encoding to say otherwise)"
    ) in notes(with_mark, model)
    assert (
        "it was read as utf-16-le text, UTF-16 as the model's training file was, in the byte "
        "order its start shows (--encoding to say otherwise)"
    ) in notes(little, model)
    assert "it was read as utf-16-be text, UTF-16 as the model's" in notes(new_big, either)
