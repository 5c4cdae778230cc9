"""A feature column of one value in every row that has one carries no information: the upload
takes it and its notes say so, naming it and how to leave it out, as a constant target is
refused (was: `notes: []`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from tests.service.uploads import upload

N = 40


def rows(**columns: object) -> bytes:
    x = np.linspace(-1, 1, N)
    return pd.DataFrame({"x": x, **columns, "y": 3 * x}).to_csv(index=False).encode()


def test_constant_columns_are_named_in_one_note(api: TestClient) -> None:
    body = upload(api, rows(c=5.0, t="a"))
    assert body["feature_names"] == ["x", "c", "t=a"]
    assert body["notes"] == [
        "columns 'c' (5), 't' ('a') each hold one value in every row that has one: they carry "
        "no information, so the model cannot learn from them; to upload without them: "
        "ignore=['c', 't'] (--ignore c --ignore t)"
    ]


def test_a_constant_column_with_missing_cells_is_still_constant(api: TestClient) -> None:
    body = upload(api, rows(c=[2.5, None] * (N // 2)))
    assert body["notes"] == [
        "column 'c' (2.5) holds one value in every row that has one: it carries no information, "
        "so the model cannot learn from it; to upload without it: ignore='c' (--ignore)"
    ]


def test_columns_of_two_values_or_more_get_no_note(api: TestClient) -> None:
    body = upload(api, rows(c=[1.0] * (N - 1) + [2.0], t=["a"] * (N - 1) + ["b"]))
    assert body["notes"] == []


def test_a_name_with_a_space_is_quoted_for_the_shell(api: TestClient) -> None:
    """Unquoted, ``--ignore my col`` is split by the shell into ``--ignore my`` and ``col``."""
    body = upload(api, rows(**{"my col": 5.0, "t": "a"}))
    assert body["notes"][0].endswith("ignore=['my col', 't'] (--ignore 'my col' --ignore t)")
