"""A trial attribute reads back as Python's json reads what ``json.dumps`` wrote, through orjson
where orjson reads it the same (``trial_rows.attr_value``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from regtune.service.store.optuna_db.trial_rows import attr_value

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
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_an_attribute_reads_back_as_json_reads_it(value: Any) -> None:
    text = json.dumps(value)
    assert repr(attr_value(text)) == repr(json.loads(text))
    assert type(attr_value(text)) is type(json.loads(text))
