"""A file of more columns than the limit is uploaded by leaving most of them out with
``ignore``, one form field a column: a thousand ``ignore`` fields were refused before the file
was read, "the body cannot be parsed: Too many fields. Maximum number of fields is 1000."
(Starlette's default), naming neither ``ignore`` nor the limit, so such a file could never be
brought under ``REGTUNE_DATASET_MAX_COLUMNS`` that way."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from regtune.service.api.datasets import UPLOAD_MAX_FIELDS

KEPT, IGNORED = 5, 1_200


def wide() -> bytes:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, KEPT + IGNORED))
    names = [f"k{i}" for i in range(KEPT)] + [f"f{i}" for i in range(IGNORED)]
    table = pd.DataFrame(values, columns=names)
    table["y"] = table["k0"] + rng.normal(size=40)
    return table.to_csv(index=False).encode()


def test_a_thousand_ignored_columns_are_left_out(api: TestClient) -> None:
    ignore = [f"f{i}" for i in range(IGNORED)]
    answer = api.post(
        "/v1/datasets",
        files={"file": ("wide.csv", wide())},
        data={"target": "y", "ignore": ignore},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["feature_names"] == [f"k{i}" for i in range(KEPT)], body["feature_names"]
    assert len(body["ignored"]) == IGNORED


def test_a_form_past_the_limit_says_which_fields_count(api: TestClient) -> None:
    ignore = [f"f{i}" for i in range(UPLOAD_MAX_FIELDS + 1)]
    answer = api.post(
        "/v1/datasets",
        files={"file": ("wide.csv", wide())},
        data={"target": "y", "ignore": ignore},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"] == (
        f"the form has more than {UPLOAD_MAX_FIELDS:,} fields (each ignore and missing_values is "
        "one): drop the columns to leave out from the file itself instead of naming each, and "
        "give fewer missing_values"
    )
