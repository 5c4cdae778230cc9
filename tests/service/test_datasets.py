"""Uploads through the API (in-process; the CLI's through a real one): malformed files get a
clear 4xx and store nothing; good files become content-addressed datasets that studies can use."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.columns import read_table
from regtune.service.ingest.header import Limits
from regtune.service.spec.definition import EXAMPLE
from tests.inprocess import Apps
from tests.service.uploads import STREAMED_END, STREAMED_HEAD, STREAMED_HEADERS
from tests.support import Processes, regtune

ADMIN = "test-admin-key-0123456789abcdef"
LIMIT = 60 * 1024 * 1024
"""The upload limit of this module's API: above the 50 MB line, below the over-limit file."""


def frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.integers(0, 10, size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    df["y"] = 2.0 * df["x1"] - 0.5 * df["x2"] + (df["color"] == "red") + rng.normal(0, 0.1, n)
    df.loc[[3, 17], "x1"] = np.nan
    df.loc[[5], "color"] = None
    return df


def csv_bytes(df: pd.DataFrame | None = None) -> bytes:
    return (frame() if df is None else df).to_csv(index=False).encode()


@pytest.fixture
def http(apps: Apps) -> httpx.Client:
    client = apps(admin_key=ADMIN, max_upload_bytes=LIMIT)
    client.headers["Authorization"] = f"Bearer {ADMIN}"
    return client


def upload(
    http: httpx.Client, content: bytes, *, filename: str = "data.csv", **form: str
) -> httpx.Response:
    data = {"target": "y", **form}
    return http.post("/v1/datasets", files={"file": (filename, content)}, data=data)


def stored_rows() -> int:
    from regtune.service.settings import get_settings

    engine = sa.create_engine(get_settings().database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.text("SELECT count(*) FROM regtune_datasets")).scalar_one()
            )
    finally:
        engine.dispose()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _wide() -> bytes:
    header = ",".join(f"c{i}" for i in range(10_000)) + ",y\n"
    row = ",".join("1" for _ in range(10_001)) + "\n"
    return (header + row * 30).encode()


def _latin1() -> bytes:
    return csv_bytes().replace(b"red", "rouge café".encode("latin-1"), 1)


def _garbage() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes()


# (case id, filename, content builder, status, words the error must contain)
MALFORMED: list[tuple[str, str, Callable[[], bytes], int, str]] = [
    ("wrong delimiter", "d.csv", lambda: csv_bytes().replace(b",", b"|"), 422, "pipes"),
    ("binary garbage", "d.csv", _garbage, 422, "looks binary"),
    ("empty file", "d.csv", lambda: b"", 422, "the file is empty"),
    ("header only", "d.csv", lambda: b"x1,x2,color,y\n", 422, "no data rows"),
    (
        "text in a numeric column",
        "d.csv",
        lambda: csv_bytes().replace(b"\n", b"\noops", 3),
        422,
        "holds numbers but line 2 (data row 1)",
    ),
    (
        "formula in a numeric column",
        "d.csv",
        lambda: b"x1,y\n=1+1,1\n" + b"2,3\n" * 30,
        422,
        "text '=1+1'",
    ),
    (
        "duplicate column names",
        "d.csv",
        lambda: csv_bytes().replace(b"x1,x2", b"x1,x1", 1),
        422,
        "duplicate column name 'x1'",
    ),
    (
        "missing target column",
        "d.csv",
        lambda: csv_bytes().replace(b",y\n", b",z\n", 1),
        422,
        "target column 'y' is not in the file",
    ),
    (
        "a terminal escape in a column name",
        "d.csv",
        lambda: csv_bytes().replace(b"x1,", b'"x1\x1b]0;owned\x07",', 1),
        422,
        "the name of column 1 ('x1\\x1b]0;owned\\x07') holds a control character",
    ),
    (
        "a direction override in a column name",
        "d.csv",
        lambda: csv_bytes().replace(b"x2,", "x2\u202e,".encode(), 1),
        422,
        "the name of column 2",
    ),
    (
        "a 100 kB column name",
        "d.csv",
        lambda: csv_bytes().replace(b"x1,", b"x" * 100_000 + b",", 1),
        422,
        "is 100000 characters long; column names are at most 1000",
    ),
    (
        "a control character in a Parquet column name",
        "d.parquet",
        lambda: parquet_bytes(frame().rename(columns={"x1": "x\r\n1"})),
        422,
        "the name of column 1",
    ),
    ("10,000 columns", "d.csv", _wide, 422, "10001 columns"),
    (
        "one 50 MB line",
        "d.csv",
        lambda: b"x1,y\n" + b"7" * (50 * 1024 * 1024) + b",1\n",
        422,
        "bytes long",
    ),
    ("over the limit", "d.csv", lambda: b"x1,y\n" + b"1,2\n" * (LIMIT // 4 + 10), 413, "larger"),
    (
        "a Parquet file that is really a CSV",
        "d.parquet",
        csv_bytes,
        422,
        "not a Parquet file",
    ),
    ("non-UTF-8 bytes", "d.csv", _latin1, 422, "not UTF-8"),
    ("a bare carriage return in the header", "d.csv", lambda: b"x\r1,y\n1,2\n", 422, "header"),
    ("too few rows", "d.csv", lambda: b"x1,y\n1,2\n3,4\n", 422, "at least 20"),
    ("ragged row", "d.csv", lambda: b"x1,y\n1,2\n3,4,5\n" + b"1,2\n" * 30, 422, "Expected 2"),
    (
        "an empty column",
        "d.csv",
        lambda: b"x1,e,y\n" + b"1,,2\n" * 30,
        422,
        "column 'e' is empty in every row",
    ),
    (
        "too many categories",
        "d.csv",
        lambda: b"x1,name,y\n" + b"".join(b"1,n%d,%d\n" % (i, i) for i in range(80)),
        422,
        "80 distinct text values",
    ),
]


@pytest.mark.parametrize(
    ("filename", "build", "status", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_upload_is_a_clear_4xx_and_stores_nothing(
    http: httpx.Client,
    filename: str,
    build: Callable[[], bytes],
    status: int,
    words: str,
) -> None:
    before = http.get("/v1/datasets").json()["total"], stored_rows()
    response = upload(http, build(), filename=filename)
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert words in error["message"], error
    assert (http.get("/v1/datasets").json()["total"], stored_rows()) == before


def test_missing_form_fields_are_named(http: httpx.Client) -> None:
    response = http.post("/v1/datasets", files={"file": ("d.csv", csv_bytes())})
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["target"]
    response = http.post("/v1/datasets", files={"target": (None, "y")})  # a form, no file
    assert response.status_code == 422
    assert "file" in [f["path"] for f in response.json()["error"]["fields"]]
    response = upload(http, csv_bytes(), task="ordinal")
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["task"]
    response = upload(http, csv_bytes(), target="nope")  # a target the file does not have
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["target"]


@pytest.mark.parametrize(
    ("form", "path", "rule"),
    [
        ({"ignored": "id"}, "ignored", "not a field of an upload: give file, target, task, ignore"),
        ({"name": "x"}, "name", "not a field of an upload"),
        ({"target": ["y", "id"]}, "target", "given 2 times: give it once"),
        ({"task": ["auto", "regression"]}, "task", "given 2 times: give it once"),
    ],
    ids=["a misspelled ignore", "an unknown field", "target twice", "task twice"],
)
def test_a_form_field_the_upload_does_not_read_or_one_given_twice_is_a_422_naming_it(
    http: httpx.Client, form: dict[str, Any], path: str, rule: str
) -> None:
    """Was: left out, or the last one taken, without a word (``ignored=id`` trained on the id
    column). ``ignore`` and ``missing_values`` are repeated to give several."""
    before = http.get("/v1/datasets").json()["total"]
    content = b"id,x,y\n" + b"".join(f"{i},{i % 7},{i % 5}\n".encode() for i in range(40))
    refused = http.post(
        "/v1/datasets", files={"file": ("d.csv", content)}, data={"target": "y"} | form
    )
    assert refused.status_code == 422, refused.text
    [field] = refused.json()["error"]["fields"]
    assert field["path"] == path and rule in field["rule"], field
    assert http.get("/v1/datasets").json()["total"] == before
    kept = http.post(
        "/v1/datasets",
        files={"file": ("d.csv", content)},
        data={"target": "y", "ignore": ["id", "x"][:1], "missing_values": ["-", "n.a."]},
    )
    assert kept.status_code == 201, kept.text


@pytest.mark.parametrize(
    "headers",
    [
        {},  # what curl --data-binary @data.csv sends: a URL-encoded form
        {"Content-Type": "text/csv"},
        {"Content-Type": "application/json"},
    ],
    ids=["url-encoded", "text/csv", "json"],
)
def test_a_file_sent_as_the_body_is_a_400_saying_how_to_upload(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    """Was: the URL-encoded reading took the whole file for one field's name, and the 422
    repeated it twice (a 950 kB file, a 1.9 MB answer); sent as text/csv, a 422 for want of the
    fields, with no word of the form."""
    content = b"x,y\n" + b"".join(f"{i % 7},{i % 5}\n".encode() for i in range(20_000))
    sent = {"Content-Type": "application/x-www-form-urlencoded"} | headers
    refused = http.post("/v1/datasets", content=content, headers=sent)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unparseable_body" and len(refused.content) < 1_000
    assert error["message"].startswith("an upload is a multipart/form-data body")
    assert "curl -F file=@data.csv -F target=y" in error["message"]


def test_a_long_field_name_is_shortened_where_the_422_repeats_it(http: httpx.Client) -> None:
    name = "n" * 900
    content = b"x,y\n1,2\n3,4\n"
    refused = http.post(
        "/v1/datasets", files={"file": ("d.csv", content)}, data={"target": "y", name: "1"}
    )
    assert refused.status_code == 422, refused.text
    [field] = refused.json()["error"]["fields"]
    assert field["path"] == f"{'n' * 80}… (900 characters)"
    assert len(refused.content) < 1_000


def test_a_large_definition_body_is_413(http: httpx.Client) -> None:
    definition = {**EXAMPLE, "padding": "x" * 2_000_000}
    response = http.post("/v1/studies", json=definition)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_upload_is_content_addressed_and_described(http: httpx.Client) -> None:
    first = upload(http, csv_bytes())
    assert first.status_code == 201, first.text
    body = first.json()
    assert first.headers["location"] == f"/v1/datasets/{body['id']}"
    again = upload(http, csv_bytes(), filename="renamed.csv")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert upload(http, csv_bytes(), task="regression").json()["id"] != body["id"]

    got = http.get(f"/v1/datasets/{body['id']}").json()
    assert (got["n_rows"], got["n_features"], got["task"]) == (120, 5, "regression")
    assert got["feature_names"] == ["x1", "x2", "color=blue", "color=green", "color=red"]
    color = next(c for c in got["columns"] if c["name"] == "color")
    assert color == {
        "name": "color",
        "kind": "categorical",
        "n_missing": 1,
        "categories": ["blue", "green", "red"],
        "features": [2, 5],
    }
    assert got["missing"]["policy"] == "impute"
    assert got["missing"]["missing_by_column"] == {"x1": 2, "color": 1}
    assert got["target_distribution"]["kind"] == "numeric"
    assert sum(got["target_distribution"]["histogram"]["counts"]) == 120

    listed = http.get("/v1/datasets").json()
    assert body["id"] in [d["id"] for d in listed["items"]]


def test_parquet_and_classification_targets(http: httpx.Client) -> None:
    df = frame(seed=3)
    buffer = io.BytesIO()
    df.to_parquet(buffer)
    response = upload(http, buffer.getvalue(), filename="d.parquet", target="color")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["format"], body["task"], body["classes"]) == (
        "parquet",
        "multiclass",
        ["blue", "green", "red"],
    )
    assert body["n_rows"] == 119  # the row without a color is dropped, and says so
    assert body["missing"]["target_missing_rows_dropped"] == 1
    counts = {c["label"]: c["count"] for c in body["target_distribution"]["classes"]}
    assert counts == df["color"].value_counts().to_dict()

    binary = frame(seed=4).assign(y=lambda d: np.where(d["x1"].fillna(0) > 0, "yes", "no"))
    response = upload(http, csv_bytes(binary))
    assert response.status_code == 201, response.text
    assert (response.json()["task"], response.json()["classes"]) == ("binary", ["no", "yes"])
    three = frame(seed=5).assign(y=lambda d: d["color"].fillna("red"))
    response = upload(http, csv_bytes(three), task="binary")
    assert response.status_code == 422
    assert "exactly 2 classes" in response.json()["error"]["message"]
    # a task that does not fit the target is a 422 at task, which says what fits (was: at file)
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["task"]
    assert response.json()["error"]["fields"][0]["rule"].endswith("use task auto or multiclass")
    response = upload(http, csv_bytes(three), task="regression")
    assert response.status_code == 422
    [problem] = response.json()["error"]["fields"]
    assert problem["path"] == "task" and problem["rule"].startswith(
        "regression needs a numeric target; 'y' holds text"
    )


def with_id(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The frame with a row id first, as exported from a database."""
    df = frame() if df is None else df
    return df.assign(id=np.arange(1000, 1000 + len(df)))[["id", *df.columns]]


def test_ignored_columns_are_left_out_recorded_and_part_of_the_id(http: httpx.Client) -> None:
    content = csv_bytes(with_id())
    kept = upload(http, content)
    assert kept.status_code == 201, kept.text
    assert "id" in kept.json()["feature_names"] and kept.json()["ignored"] == []
    sha = hashlib.sha256(content).hexdigest()
    assert (
        kept.json()["id"]
        == hashlib.sha256(  # the id of every upload before ``ignore``
            f"regtune-dataset-v1\0{sha}\0y\0auto".encode()
        ).hexdigest()[:32]
    )

    left_out = http.post(
        "/v1/datasets",
        files={"file": ("data.csv", content)},
        data={"target": "y", "ignore": ["id", "x2"]},
    )
    assert left_out.status_code == 201, left_out.text
    body = left_out.json()
    assert body["id"] != kept.json()["id"]
    assert body["ignored"] == ["id", "x2"]
    assert body["feature_names"] == ["x1", "color=blue", "color=green", "color=red"]
    assert [c["name"] for c in body["columns"]] == ["x1", "color"]
    assert http.get(f"/v1/datasets/{body['id']}").json()["ignored"] == ["id", "x2"]
    reordered = http.post(
        "/v1/datasets",
        files={"file": ("data.csv", content)},
        data={"target": "y", "ignore": ["x2", "id", "x2"]},
    )
    assert (reordered.status_code, reordered.json()["id"]) == (200, body["id"])
    nothing = http.post(
        "/v1/datasets", files={"file": ("data.csv", content)}, data={"target": "y", "ignore": []}
    )
    assert (nothing.status_code, nothing.json()["id"]) == (200, kept.json()["id"])


def test_an_ignored_column_is_dropped_before_it_is_checked(http: httpx.Client) -> None:
    """Dropped before it is classified or counted: an empty column, a column over the limit,
    a Parquet type upload cannot read. The rows are still checked whole."""
    notes = csv_bytes(frame().assign(notes=None))
    assert upload(http, notes).status_code == 422
    answer = upload(http, notes, ignore="notes")
    assert answer.status_code == 201, answer.text
    assert answer.json()["ignored"] == ["notes"]

    numeric = csv_bytes(with_id(frame().drop(columns=["color"])))
    narrow = Limits(max_columns=2)  # x1 and x2
    with pytest.raises(InvalidUpload, match="the file has 4 columns"):
        read_table(numeric, filename="d.csv", target="y", limits=narrow)
    table = read_table(numeric, filename="d.csv", target="y", ignore=["id"], limits=narrow)
    assert table.feature_names == ["x1", "x2"]

    ragged = b"x1,id,y\n1,2,3\n4,5,6,7\n" + b"1,2,3\n" * 30
    with pytest.raises(InvalidUpload, match="Expected 3 fields"):
        read_table(ragged, filename="d.csv", target="y", ignore=["id"])

    buffer = io.BytesIO()
    frame().assign(seen=pd.Timestamp("2024-01-01")).to_parquet(buffer)
    assert upload(http, buffer.getvalue(), filename="d.parquet").status_code == 422
    answer = upload(http, buffer.getvalue(), filename="d.parquet", ignore="seen")
    assert answer.status_code == 201, answer.text
    assert "seen" not in [c["name"] for c in answer.json()["columns"]]

    buffer = io.BytesIO()
    frame().assign(notes="n" * 20_000).to_parquet(buffer, compression="zstd")
    small = Limits(max_cells=700)  # 600 cells with the notes; 8 bytes a cell: 5,600 decoded
    with pytest.raises(InvalidUpload, match="decodes to"):
        read_table(buffer.getvalue(), filename="d.parquet", target="y", limits=small)
    table = read_table(
        buffer.getvalue(), filename="d.parquet", target="y", ignore=["notes"], limits=small
    )
    assert "notes" not in table.feature_names


@pytest.mark.parametrize(
    ("named", "ignore", "refused", "kept"),
    [
        ("junk,junk", "junk", "duplicate column name 'junk' (columns 5 and 6)", []),
        (
            '"junk\x1b[31m",j2',
            "junk\x1b[31m",
            "the name of column 5 ('junk\\x1b[31m') holds a control character",
            ["j2"],
        ),
    ],
    ids=["two of one name", "a control character"],
)
def test_an_ignored_column_s_name_is_not_checked(
    named: str, ignore: str, refused: str, kept: list[str]
) -> None:
    """A column left out is never read, so its name is not checked either (was: refused as a
    duplicate or unprintable name, though the upload said to leave it out); a kept one is."""
    text = frame().assign(j1="a", j2=1).to_csv(index=False).replace("j1,j2", named, 1)
    with pytest.raises(InvalidUpload) as raised:
        read_table(text.encode(), filename="d.csv", target="y")
    assert raised.value.message.startswith(refused)
    table = read_table(text.encode(), filename="d.csv", target="y", ignore=[ignore])
    assert [c["name"] for c in table.columns] == ["x1", "x2", "color", *kept]


@pytest.mark.parametrize(
    ("ignore", "words"),
    [
        (["nope"], "column 'nope' is not in the file (columns: 'id', 'x1', 'x2', 'color', 'y')"),
        ([""], "column '' is not in the file"),
        (["id", "y"], "'y' is the target column"),
        (["id", "x1", "x2", "color"], "leaves no feature column"),
    ],
    ids=["not a column", "an empty name", "the target", "every feature"],
)
def test_a_bad_ignore_is_a_422_naming_ignore(
    http: httpx.Client, ignore: list[str], words: str
) -> None:
    before = stored_rows()
    response = http.post(
        "/v1/datasets",
        files={"file": ("data.csv", csv_bytes(with_id()))},
        data={"target": "y", "ignore": ignore},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [f["path"] for f in error["fields"]] == ["ignore"], error
    assert words in error["message"] and error["message"].startswith("ignore: "), error
    assert stored_rows() == before


def test_studies_use_uploads_and_deleting_waits_for_them(http: httpx.Client) -> None:
    dataset = upload(http, csv_bytes(frame(seed=11))).json()
    definition = {**EXAMPLE, "name": "on-upload", "dataset": {"id": dataset["id"]}}
    created = http.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = created.json()
    assert study["definition"]["task"] == "regression"

    busy = http.delete(f"/v1/datasets/{dataset['id']}")
    assert busy.status_code == 409
    assert study["id"] in busy.json()["error"]["message"]
    assert http.get(f"/v1/datasets/{dataset['id']}").status_code == 200

    assert http.post(f"/v1/studies/{study['id']}/cancel").status_code == 200
    assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert http.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 404


def test_a_dataset_deleted_while_a_study_on_it_is_admitted_makes_the_study_a_422(
    http: httpx.Client,
) -> None:
    """The admission reads the dataset, the study is stored after: a delete that lands between
    the two (two requests at once) answered 204 and the study 201, and the study then failed
    for want of its data. Storing the study now holds the dataset, or finds it gone."""
    from regtune.service.api.studies import admit
    from regtune.service.errors import InvalidDefinition
    from regtune.service.settings import get_settings
    from regtune.service.store.repos import study_creation

    dataset = upload(http, csv_bytes(frame(seed=12))).json()
    definition = {**EXAMPLE, "name": "raced", "dataset": {"id": dataset["id"]}}
    spec = admit(definition, tenant="default", settings=get_settings())
    assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    with pytest.raises(InvalidDefinition) as refused:
        study_creation.create_study(spec, tenant="default")
    assert [f.path for f in refused.value.fields] == ["dataset.id"]
    assert http.get("/v1/studies", params={"name": "raced"}).json()["total"] == 0


def test_a_definition_naming_a_missing_or_mismatched_dataset_is_422(http: httpx.Client) -> None:
    unknown = {**EXAMPLE, "name": "no-such-data", "dataset": {"id": "0" * 32}}
    response = http.post("/v1/studies", json=unknown)
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["dataset.id"]

    dataset = upload(http, csv_bytes(frame(seed=12))).json()
    wrong = {**EXAMPLE, "name": "wrong-task", "dataset": {"id": dataset["id"]}, "task": "binary"}
    wrong["objective"] = {"metric": "val_loss"}
    response = http.post("/v1/studies", json=wrong)
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["task"]
    names = {s["name"] for s in http.get("/v1/studies", params={"limit": 500}).json()["items"]}
    assert not names & {"no-such-data", "wrong-task"}


def test_cli_uploads_and_lists(processes: Processes, sqlite_url: str, tmp_path: Path) -> None:
    stack = processes.stack(sqlite_url, REGTUNE_ADMIN_KEY=ADMIN).start_api()
    path = tmp_path / "houses.csv"
    path.write_bytes(csv_bytes(frame(seed=21)))
    env: dict[str, Any] = {**stack.env, "REGTUNE_URL": stack.url, "REGTUNE_KEY": ADMIN}
    uploaded = processes.run(regtune("datasets", "upload", str(path), "--target", "y"), env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    assert "regression" in uploaded.stdout
    listed = processes.run(regtune("datasets", "ls"), env=env)
    assert listed.returncode == 0, listed.stderr
    assert "houses.csv" in listed.stdout
    bad = processes.run(regtune("datasets", "upload", str(path), "--target", "nope"), env=env)
    assert bad.returncode == 1
    assert "target column 'nope' is not in the file" in bad.stderr


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(
    processes: Processes, sqlite_url: str
) -> None:
    """Chunked transfer through uvicorn: no length to refuse up front, the stream is cut."""
    stack = processes.stack(sqlite_url, REGTUNE_MAX_UPLOAD_BYTES=str(LIMIT)).start_api()

    def body() -> Iterator[bytes]:
        yield STREAMED_HEAD
        chunk = b"1,2\n" * 65_536
        for _ in range(LIMIT // len(chunk) + 2):
            yield chunk
        yield STREAMED_END

    response = httpx.post(
        f"{stack.url}/v1/datasets",
        content=body(),
        headers=STREAMED_HEADERS,
        timeout=120,
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text[:300]
    assert "REGTUNE_MAX_UPLOAD_BYTES" in response.json()["error"]["message"]


CSV_ALPHABET = st.sampled_from([*'0123456789.,-+eE"\r\n ;ab=NAnul\t', "é", "\x00"])


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    raw=st.one_of(
        st.binary(max_size=400),
        st.text(CSV_ALPHABET, max_size=400).map(lambda t: ("a,y\n" + t).encode()),
        st.text(CSV_ALPHABET, max_size=400).map(str.encode),
        st.binary(max_size=400).map(lambda b: b"PAR1" + b + b"PAR1"),
    ),
    filename=st.sampled_from(["d.csv", "d.parquet", "d", ""]),
    task=st.sampled_from(["auto", "regression", "binary", "multiclass"]),
)
def test_any_bytes_become_a_table_or_a_rejection(raw: bytes, filename: str, task: str) -> None:
    """The parser's only failure is InvalidUpload (a 422), whatever the bytes."""
    limits = Limits(min_rows=2)
    try:
        table = read_table(raw, filename=filename, target="y", task=task, limits=limits)
    except InvalidUpload as exc:
        assert exc.message
        return
    assert table.X.shape[0] == table.y.shape[0] >= 2
    assert not np.isinf(table.X).any()
