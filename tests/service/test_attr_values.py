"""A trial attribute reads back as Python's json reads what ``json.dumps`` wrote, through orjson
where orjson reads it the same (``trial_rows.attr_value``); one written through orjson
(``trial_rows.attr_json``) reads back as the value ``json.dumps`` wrote does."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from regtune.service.store.optuna_db.trial_rows import attr_json, attr_value

VALUES: list[Any] = [
    0.1,
    -1.5e-300,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    2**63 - 1,
    2**63,
    -(2**64),
    10**30,
    [1, 10**30, 0.5],
    {"fold_values": [0.12345678, math.nan], "n": 3},
    'text with ünïcode and "quotes"',
    "12345678901234567890",
    True,
    None,
    [],
    {},
    {1: "an integer key", 2.5: None},
    np.float64(0.25),
    {"n_nonzero": 3, "weights": {"λ": -0.5, "x1": 1e-12}, "converged": False},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_an_attribute_reads_back_as_json_reads_it(value: Any) -> None:
    text = json.dumps(value)
    assert repr(attr_value(text)) == repr(json.loads(text))
    assert type(attr_value(text)) is type(json.loads(text))


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_an_attribute_written_by_orjson_reads_back_as_json_dumps_wrote_it(value: Any) -> None:
    assert repr(json.loads(attr_json(value))) == repr(json.loads(json.dumps(value)))
    assert repr(attr_value(attr_json(value))) == repr(json.loads(json.dumps(value)))
