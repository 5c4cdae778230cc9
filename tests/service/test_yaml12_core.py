"""A YAML definition is read with the YAML 1.2 core schema's numbers and booleans, as JSON's
would be: ``010`` is 10, ``0o10`` 8, ``0x10`` 16; ``yes``, ``on`` and ``no`` are text, which a
boolean field refuses naming it. PyYAML's YAML 1.1 rules stored ``n_trials: 010`` as 8 and
``refit: yes`` or ``batch_norm: on`` as true, while JSON's ``"refit": 1`` was refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from regtune.service.spec.yaml12 import load_yaml

YAML = {"Content-Type": "application/yaml"}
BASE = "name: {name}\ndataset: {{builtin: diabetes}}\n"


def _post(api: TestClient, name: str, rest: str) -> dict[str, Any]:
    answer = api.post("/v1/studies", content=BASE.format(name=name) + rest, headers=YAML)
    return {**answer.json(), "code": answer.status_code}


@pytest.mark.parametrize(("written", "n"), [("010", 10), ("0o10", 8), ("0x10", 16), ("8", 8)])
def test_whole_numbers_are_yaml_1_2_s(api: TestClient, written: str, n: int) -> None:
    created = _post(api, f"n-{written}", f"budget: {{n_trials: {written}}}\n")
    assert created["code"] == 201, created
    assert created["definition"]["budget"]["n_trials"] == n, created


@pytest.mark.parametrize(
    ("rest", "path"),
    [
        ("refit: yes\n", "refit"),
        ("refit: on\n", "refit"),
        ("model: {kind: mlp, hidden_layers: [4], batch_norm: on}\n", "model.batch_norm"),
    ],
)
def test_yes_and_on_are_text_a_boolean_refuses(api: TestClient, rest: str, path: str) -> None:
    refused = _post(api, "flags", rest)
    assert refused["code"] == 422, refused
    fields = {f["path"]: f["rule"] for f in refused["error"]["fields"]}
    assert list(fields) == [path] and "boolean" in fields[path], fields


@pytest.mark.parametrize("written", ["true", "True", "TRUE"])
def test_true_in_any_case_the_core_schema_allows_is_true(api: TestClient, written: str) -> None:
    created = _post(api, f"refit-{written.lower()}-{len(written)}", f"refit: {written}\n")
    assert created["code"] == 201, created
    assert created["definition"]["refit"] is True, created


class Yaml11(yaml.SafeLoader):
    """PyYAML's YAML 1.1 rules, with ``1e-5`` a number: the loader definitions were read with."""


Yaml11.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@pytest.mark.parametrize("path", sorted(Path("examples").glob("*.yaml")), ids=str)
def test_the_shipped_examples_read_as_before(path: Path) -> None:
    text = path.read_text()
    assert load_yaml(text) == yaml.load(text, Yaml11), path
