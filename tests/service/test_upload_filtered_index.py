"""The index ``to_csv`` writes of a frame whose rows were filtered (``df[df.x2 > -1.5]``), in the
file's first column without a name, is said to be one as an unfiltered index is, with how to
leave it out (was: read as a feature ``column_1`` without a word, while 0..n-1 got the note).
Still a note: the column stays a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from tests.service.test_upload_notes import notes

N = 80


def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x2": rng.normal(size=N), "y": rng.normal(size=N)})


def test_a_filtered_frame_s_index_is_said_to_be_one(api: TestClient) -> None:
    frame = table()
    kept = frame[frame.x2 > -1.0]
    assert list(kept.index) != list(range(len(kept)))  # gaps: not the row numbers
    first, last = int(kept.index[0]), int(kept.index[-1])
    assert notes(api, kept.to_csv().encode()) == [
        f"column 'column_1', the file's first, holds integers in increasing order ({first}.."
        f"{last}, {len(kept)} of them), as pandas' to_csv writes the index of a frame whose rows "
        "were filtered, in a column without a name: if it is a row id, not a feature, upload "
        "with ignore='column_1' (--ignore)"
    ]
    answer = api.post(
        "/v1/datasets", files={"file": ("d.csv", kept.to_csv().encode())}, data={"target": "y"}
    ).json()
    assert [c["name"] for c in answer["columns"]] == ["column_1", "x2"]


def test_only_an_unnamed_first_column_of_increasing_integers_is(api: TestClient) -> None:
    frame = table()
    kept = frame[frame.x2 > -1.0]
    named = kept.rename_axis("id").to_csv().encode()  # a named id: the user's own
    assert notes(api, named) == []
    shuffled = kept.sample(frac=1.0, random_state=0).to_csv().encode()
    assert notes(api, shuffled) == [  # no index said: only its want of a name
        "column 1 has no name in the header: it is read as the feature 'column_1'; name it in "
        "the header, or upload without it: ignore='column_1' (--ignore)"
    ]
