"""A definition's YAML holds at most ``MAX_NODES`` values, lists and mappings, counted as the
loader composes them: past it, a 413 naming the rule before the rest is read (was: a 1 MB body
of ``a: [1,1,…]``, 490,000 nodes under ``REGTUNE_MAX_BODY_BYTES``, cost 20 s of CPU and then a
422). The largest definition the rules admit fits with room to spare."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE
from regtune.service.spec.points import MAX_POINTS
from regtune.service.spec.space import KNOBS, Architectures, Choices
from regtune.service.spec.yaml12 import MAX_NODES, TooManyNodes, load_yaml


def nodes(node: yaml.Node) -> int:
    """How many nodes ``node`` is made of, itself included."""
    match node:
        case yaml.MappingNode():
            return 1 + sum(nodes(key) + nodes(value) for key, value in node.value)
        case yaml.SequenceNode():
            return 1 + sum(nodes(item) for item in node.value)
    return 1


def largest_definition() -> dict[str, Any]:
    """A definition of every list at its longest: each knob's choices, the architectures and
    their layers, and the points, each giving every knob."""
    choices = Choices.model_json_schema()["properties"]["choices"]["maxItems"]
    architectures = Architectures.model_json_schema()["properties"]["choices"]
    layers = [4096] * architectures["items"]["maxItems"]
    point = {name: 0.5 for name in KNOBS} | {"hidden_layers": layers}
    return {
        **EXAMPLE,
        "search_space": {name: {"choices": [0.5] * choices} for name in KNOBS}
        | {"hidden_layers": {"choices": [layers] * architectures["maxItems"]}},
        "sampler": {"type": "tpe", "points_to_evaluate": [point] * MAX_POINTS},
    }


def test_the_largest_definition_the_rules_admit_holds_under_half_the_bound() -> None:
    text = yaml.safe_dump(largest_definition())
    composed = yaml.compose(text)
    assert composed is not None and 2 * nodes(composed) <= MAX_NODES
    assert load_yaml(text) == largest_definition()


def test_a_text_past_the_bound_is_refused_before_the_rest_is_read() -> None:
    """What follows the bound, a syntax error here, is never read."""
    with pytest.raises(TooManyNodes, match=f"more than {MAX_NODES:,} values"):
        load_yaml("a: [" + "1," * MAX_NODES + "1]]]]")


def test_a_megabyte_of_yaml_nodes_is_a_413_naming_the_rule(api: TestClient) -> None:
    flat = "a: [" + "1," * 490_000 + "1]"
    answer = api.post("/v1/studies", content=flat, headers={"content-type": "application/yaml"})
    assert answer.status_code == 413, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] == "too_large"
    assert error["message"] == (
        f"the definition is too large: the YAML holds more than {MAX_NODES:,} values, lists "
        "and mappings (a definition the rules admit holds at most about 38,000)"
    )
    assert error["fields"] == [{"path": "body", "rule": error["message"]}]
