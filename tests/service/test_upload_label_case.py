"""Class labels that differ only in case or spaces are classes of their own, as the file writes
them, and the upload's notes name each group of them (was: `yes`, `Yes`, `no`, `no ` became
the classes ['Yes', 'no', 'yes'] with `notes: []`). Spaces around a label are no part of it:
`no ` is `no`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from tests.service.uploads import upload

N = 40


def rows(labels: list[str]) -> bytes:
    x = np.cos(np.arange(N, dtype=np.float64))
    return (
        pd.DataFrame({"x": x, "y": np.array(labels)[np.arange(N) % len(labels)]})
        .to_csv(index=False)
        .encode()
    )


def test_labels_that_differ_only_in_case_are_kept_and_noted(api: TestClient) -> None:
    body = upload(api, rows(["yes", "Yes", "no", "no "]))
    assert body["classes"] == ["Yes", "no", "yes"]
    assert body["notes"] == [
        "target 'y' has labels that differ only in case or spaces ('Yes', 'yes'): each is a "
        "class of its own; if they mean the same, write them alike and upload again"
    ]


def test_each_group_is_named(api: TestClient) -> None:
    body = upload(api, rows(["no thanks", "No  thanks", "yes", "YES", "maybe"]))
    assert body["classes"] == ["No  thanks", "YES", "maybe", "no thanks", "yes"]
    assert body["notes"] == [
        "target 'y' has labels that differ only in case or spaces ('No  thanks', 'no thanks'; "
        "'YES', 'yes'): each is a class of its own; if they mean the same, write them alike and "
        "upload again"
    ]


def test_distinct_labels_get_no_note(api: TestClient) -> None:
    assert upload(api, rows(["yes", "no", "maybe"]))["notes"] == []
