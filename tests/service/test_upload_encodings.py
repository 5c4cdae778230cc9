"""A CSV that is not UTF-8 (Excel's "CSV" on Windows is cp1252; "Unicode Text" is UTF-16 with
tabs) is read with the encoding the upload names, as the same data written in UTF-8, and the
dataset says how it was read (was: 422 "not UTF-8 ... save it as UTF-8" and no way to say).
Nothing is guessed: without the option such a file is refused with the byte at fault and the
option to pass; an encoding Python's codecs do not know is a 422 at ``encoding``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_client_optuna import ThroughApp
from tests.service.uploads import refusal, upload

N = 40


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=N) * 30).round(3)
    city = rng.choice(["São Paulo", "Zürich", "Malmö"], size=N)
    return pd.DataFrame({"x": x, "città": city, "y": (x / 10 + rng.normal(size=N)).round(5)})


def written(data: pd.DataFrame, encoding: str, **options: str) -> bytes:
    handle = io.StringIO()
    data.to_csv(handle, index=False, lineterminator="\r\n", **options)
    return handle.getvalue().encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "asked", "sep"),
    [
        ("cp1252", "cp1252", ","),
        ("cp1252", "Windows-1252", ","),
        ("latin-1", "latin1", ";"),
        ("utf-16", "utf-16", "\t"),
        ("utf-8-sig", "utf-8-sig", ","),
    ],
)
def test_a_file_in_the_named_encoding_is_the_same_data(
    api: TestClient, encoding: str, asked: str, sep: str
) -> None:
    data = frame()
    read = upload(api, written(data, encoding, sep=sep), encoding=asked)
    plain = upload(api, written(data, "utf-8"))
    assert read["columns"] == plain["columns"]
    assert read["columns"][1]["categories"] == ["Malmö", "São Paulo", "Zürich"]
    assert read["target_distribution"] == plain["target_distribution"]
    canonical = {"cp1252": "cp1252", "latin-1": "iso8859-1", "utf-16": "utf-16"}.get(encoding)
    assert read["encoding"] == (canonical or "utf-8")
    assert plain["encoding"] == "utf-8"
    if canonical:
        assert read["notes"][0] == f"the file was read as {canonical} text (encoding={canonical})"
    assert api.get(f"/v1/datasets/{read['id']}").json()["encoding"] == read["encoding"]


def test_a_cp1252_file_without_the_option_is_refused_naming_it(api: TestClient) -> None:
    raw = written(frame(), "cp1252")
    message, fields = refusal(upload(api, raw))
    assert raw.index(b"\xe0") == 6  # the à of città
    assert message == (
        "the file is not UTF-8 text: byte 0xe0 at line 1 (offset 6); save it as "
        "UTF-8, or pass encoding=cp1252 (--encoding cp1252) if it was saved as Excel on Windows "
        "saves CSV (it reads so), or the encoding it was saved in"
    )
    assert fields == [{"path": "file", "rule": message}]
    assert api.get("/v1/datasets").json()["total"] == 0


def test_bytes_that_are_not_cp1252_are_not_said_to_be(api: TestClient) -> None:
    raw = written(frame(), "utf-8").replace("ü".encode(), b"\x81", 1)  # 0x81: no cp1252 char
    message, _ = refusal(upload(api, raw))
    assert "pass encoding=NAME (--encoding NAME)" in message
    assert "cp1252" not in message
    message, _ = refusal(upload(api, raw, encoding="cp1252"))
    offset = raw.index(b"\x81")
    assert message.startswith("the file is not cp1252 text: byte 0x81 at line ")
    assert f"(offset {offset})" in message


def test_a_utf16_file_without_the_option_is_refused_naming_it(api: TestClient) -> None:
    message, _ = refusal(upload(api, written(frame(), "utf-16", sep="\t")))
    assert message.startswith(
        "the file is UTF-16 text (it starts with a UTF-16 byte-order mark, as Excel's 'Unicode "
        "Text' saves it); pass encoding=utf-16 (--encoding utf-16)"
    )


def test_the_encoding_is_part_of_what_the_upload_asked(api: TestClient) -> None:
    raw = written(frame().assign(città="Oslo").rename(columns={"città": "city"}), "ascii")
    plain, asked = upload(api, raw), upload(api, raw, encoding="cp1252")
    assert plain["id"] != asked["id"]
    assert (plain["encoding"], asked["encoding"]) == ("utf-8", "cp1252")
    again = api.post(
        "/v1/datasets", files={"file": ("d.csv", raw)}, data={"target": "y", "encoding": "UTF8"}
    )
    assert (again.status_code, again.json()["id"]) == (200, plain["id"])  # the same upload


@pytest.mark.parametrize("name", ["cp-1252", "base64", "no such codec"])
def test_an_unknown_encoding_is_a_422_at_encoding(api: TestClient, name: str) -> None:
    message, fields = refusal(upload(api, written(frame(), "utf-8"), encoding=name))
    rule = (
        "must name a text encoding of Python's codec registry (utf-8, cp1252, latin-1, utf-16, "
        f"mac-roman...), got {name!r}"
    )
    assert message == f"encoding: {rule}"
    assert fields == [{"path": "encoding", "rule": rule}]
    assert api.get("/v1/datasets").json()["total"] == 0


def test_an_encoding_for_a_parquet_file_is_a_422_at_encoding(api: TestClient) -> None:
    handle = io.BytesIO()
    frame().to_parquet(handle, index=False)
    _, fields = refusal(upload(api, handle.getvalue(), filename="d.parquet", encoding="cp1252"))
    assert fields == [
        {
            "path": "encoding",
            "rule": "applies to CSV text; a Parquet file's text is UTF-8 by its format, got "
            "'cp1252'",
        }
    ]
    assert upload(api, handle.getvalue(), filename="d.parquet", encoding="utf-8")["encoding"] == (
        "utf-8"
    )


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_named_with_its_order(
    api: TestClient, order: str
) -> None:
    """Was: 422 "the file looks binary (a NUL byte at offset 1)"."""
    raw = written(frame(), order, sep="\t")
    message, _ = refusal(upload(api, raw))
    assert message == (
        "the file looks like UTF-16 text without a byte-order mark (every other byte of its "
        f"start is NUL); pass encoding={order} (--encoding {order}), or save it as UTF-8"
    )
    plain = upload(api, written(frame(), "utf-8"))
    assert upload(api, raw, encoding=order)["columns"] == plain["columns"]


def test_a_utf8_file_with_a_byte_order_mark_is_not_read_as_cp1252(api: TestClient) -> None:
    """Was: read as cp1252, the mark becoming part of the first column's name ('ï»¿x')."""
    message, fields = refusal(upload(api, written(frame(), "utf-8-sig"), encoding="cp1252"))
    rule = (
        "the file starts with a UTF-8 byte-order mark, so it is UTF-8 text, not cp1252; leave "
        "encoding out"
    )
    assert (message, fields) == (f"encoding: {rule}", [{"path": "encoding", "rule": rule}])


def test_the_python_client_names_the_encoding(api: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(written(frame(), "cp1252"))
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        uploaded = client.upload_dataset(path, target="y", encoding="cp1252")
        with pytest.raises(regtune.ApiError) as refused:
            client.upload_dataset(path, target="y")
        with pytest.raises(ValueError, match="a DataFrame is sent as UTF-8"):
            client.upload_dataset(frame(), target="y", encoding="cp1252")
    assert uploaded.encoding == "cp1252"
    assert refused.value.status == 422
    assert "encoding=cp1252" in str(refused.value)
