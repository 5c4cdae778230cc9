"""A pandas DataFrame given to ``Client.upload_dataset`` is the data the frame holds, or a
``ValueError`` saying what to change, before anything is sent: columns of several levels (was:
a second header line uploaded as a data row, or a 422 about a duplicate name the frame does not
have) and a ``category`` feature whose categories are numbers (was: uploaded as a numeric
column without a word)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_client_optuna import ThroughApp

N = 30


def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "city": rng.choice(["oslo", "bergen"], size=N),
            "kind": rng.choice(["flat", "house"], size=N),
            "grade": pd.Categorical(rng.integers(1, 4, size=N)),
            "label": rng.choice(["cheap", "dear"], size=N),
        }
    )


def test_columns_of_several_levels_are_refused_before_the_upload(api: TestClient) -> None:
    frame = rows().drop(columns="grade")
    frame.columns = pd.MultiIndex.from_tuples([("city", "a"), ("kind", "b"), ("label", "c")])
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        with pytest.raises(ValueError) as refused:
            client.upload_dataset(frame, target="label")
        assert client.datasets().total == 0  # nothing was sent
    assert str(refused.value).startswith(
        "the DataFrame's columns have 2 levels (('city', 'a'), ('kind', 'b')...); an upload has "
        "one header line of names: join them first, e.g. frame.columns = "
    )


def test_a_category_feature_of_numbers_is_refused_naming_the_column(api: TestClient) -> None:
    frame = rows()
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        with pytest.raises(ValueError) as refused:
            client.upload_dataset(frame, target="label")
        assert client.datasets().total == 0
        labelled = frame.assign(grade=frame["grade"].cat.rename_categories(lambda c: f"g{c}"))
        categories = client.upload_dataset(labelled, target="label")
        as_numbers = frame.assign(grade=frame["grade"].astype(float))
        numbers = client.upload_dataset(as_numbers, target="label")
        ignored = client.upload_dataset(frame, target="label", ignore="grade")
        as_target = client.upload_dataset(frame.drop(columns="label"), target="grade")
    assert str(refused.value) == (
        "column 'grade' is a pandas category of numbers (1, 2, 3), which an upload reads as "
        "numbers, not categories: to have them as categories, give them text labels, e.g. "
        "frame['grade'] = frame['grade'].cat.rename_categories(lambda c: f'grade_{c}'); to use "
        "them as numbers, frame['grade'].astype(float)"
    )
    grade = {c.name: c for c in categories.columns}["grade"]
    assert (grade.kind, grade.categories) == ("categorical", ["g1", "g2", "g3"])
    assert {c.name: c.kind for c in numbers.columns}["grade"] == "numeric"
    assert ignored.ignored == ["grade"]
    assert as_target.target == "grade"  # the target's task is the API's to say (task=)


def test_text_and_boolean_categories_and_nullable_dtypes_upload_as_their_csv(
    api: TestClient,
) -> None:
    frame = rows().drop(columns="grade")
    frame["flag"] = pd.Categorical([True, False] * (N // 2))
    frame["count"] = pd.array([None, *range(N - 1)], dtype="Int64")
    frame.index = pd.RangeIndex(100, 100 + N)
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        dataset = client.upload_dataset(frame, target="label")
    kinds = {c.name: (c.kind, c.categories, c.n_missing) for c in dataset.columns}
    assert kinds["city"] == ("categorical", ["bergen", "oslo"], 0)
    assert kinds["flag"] == ("categorical", ["False", "True"], 0)
    assert kinds["count"] == ("numeric", None, 1)
    assert dataset.n_rows == N


def test_columns_named_by_numbers_are_ignored_and_targeted_by_them(api: TestClient) -> None:
    frame = rows()
    frame.columns = [0, 1, 2, 3]  # 2 is the category of numbers
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        dataset = client.upload_dataset(frame, target=3, ignore=[2])  # type: ignore[arg-type, list-item]
    assert (dataset.target, dataset.ignored) == ("3", ["2"])


@pytest.mark.parametrize("source", [[[1, 2]], b"a,y\n1,2\n", {"a": [1], "y": [2]}])
def test_a_source_neither_a_path_nor_a_frame_is_a_type_error_naming_it(
    api: TestClient, source: object
) -> None:
    """Was ``'list' object has no attribute 'columns'`` (and, without pandas installed, ``No
    module named 'pandas'``)."""
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        with pytest.raises(TypeError) as refused:
            client.upload_dataset(source, target="y")
        assert client.datasets().total == 0
    assert str(refused.value) == (
        "source: give the path of a CSV or Parquet file (str or Path) or a pandas DataFrame, "
        f"got {type(source).__name__}"
    )


def test_a_subclass_of_dataframe_uploads_as_the_frame_it_is(api: TestClient) -> None:
    """A GeoDataFrame, or any subclass, is a DataFrame (the type check first written took only
    the class named DataFrame)."""

    class Frame(pd.DataFrame):
        @property
        def _constructor(self) -> type[Frame]:
            return Frame

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        uploaded = client.upload_dataset(Frame(rows().drop(columns="grade")), target="label")
    assert uploaded.n_rows == N
