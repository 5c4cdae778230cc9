"""A fixed knob given as NaN or infinity is refused at the knob the user wrote, with a rule in a
knob's words (was: ``search_space.dropout.value: Input should be a finite number``, at a key no
definition has: the ``{value: …}`` a bare number is held in).

Fast and in-process: the app under ``TestClient``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.locations import union_tags, written

RULE = "must be a finite number (NaN and infinity are not values of a knob), got "
YAML = """\
name: not-finite
dataset: {builtin: diabetes}
model: {kind: mlp, hidden_layers: [8]}
search_space: {KNOB: VALUE}
"""


@pytest.mark.parametrize(
    ("knob", "value", "said"),
    [
        ("dropout", ".nan", "NaN"),
        ("lambda", ".inf", "infinity"),
        ("input_noise", "-.inf", "-infinity"),
    ],
)
def test_a_knob_of_yaml_nan_or_infinity_is_refused_at_the_knob(
    api: TestClient, knob: str, value: str, said: str
) -> None:
    text = YAML.replace("KNOB", knob).replace("VALUE", value)
    answer = api.post("/v1/studies", content=text, headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    [field] = error["fields"]
    assert field["path"] == f"search_space.{knob}", field
    assert field["rule"] == RULE + said, field
    assert error["message"] == f"search_space.{knob}: {field['rule']}"


def test_a_knob_of_json_nan_is_refused_at_the_knob(api: TestClient) -> None:
    body = '{"name": "nan-lambda", "dataset": {"builtin": "diabetes"}, "search_space": '
    body += '{"lambda": NaN, "l1_ratio": 0.5}}'
    answer = api.post("/v1/studies", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"] == [
        {"path": "search_space.lambda", "rule": RULE + "NaN"}
    ]


def test_a_location_ends_where_the_user_wrote_a_number() -> None:
    """What pydantic locates under a value the user wrote as a number (its own wrapping of
    it) is no key of theirs."""
    sent = {"search_space": {"dropout": 0.5, "lambda": {"low": 1, "high": 2}}}
    tags = union_tags(StudySpec)
    assert written(("search_space", "dropout", "value"), sent, tags) == ("search_space", "dropout")
    assert written(("search_space", "lambda", "range", "low"), sent, tags) == (
        "search_space",
        "lambda",
        "low",
    )
