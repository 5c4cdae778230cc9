"""Every study definition the project ships passes the API's rules as they are now.

A rule change (a new default solver, a tighter budget) that refuses a shipped definition fails
here, in-process and without a server, instead of in a maintainer's compose run. Shipped means:
``examples/``, the compose smoke's studies, the definitions the benchmarks submit or build, the
OpenAPI example, and the README's YAML/JSON blocks that are study definitions (a mapping with a
``dataset``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from regtune.service.api.studies import admit
from regtune.service.settings import Settings
from regtune.service.spec.advice import warnings_of
from regtune.service.spec.definition import EXAMPLE
from regtune.service.spec.yaml12 import DefinitionLoader
from tests.support import ROOT

SMOKE_STUDIES = ROOT / "scripts" / "compose-smoke.studies.json"
FENCE = re.compile(r"^```(yaml|json)[ \t]*\n(.*?)^```", re.M | re.S)


def readme_definitions() -> Iterator[tuple[str, dict[str, Any]]]:
    text = (ROOT / "README.md").read_text()
    for block in FENCE.finditer(text):
        kind, body = block.groups()
        data = yaml.load(body, DefinitionLoader) if kind == "yaml" else json.loads(body)
        if isinstance(data, dict) and "dataset" in data:
            line = text.count("\n", 0, block.start()) + 1
            yield f"README.md:{line}", data


def bench_definitions() -> Iterator[tuple[str, dict[str, Any]]]:
    """What each benchmark submits (or validates itself), with the sizes its full run uses."""
    from bench import api_seed, folds, mlp, overhead, pool, pruning, quality, solver

    yield "bench.api_seed", api_seed.definition("seed", 20)
    yield "bench.overhead", overhead.definition(200)
    yield "bench.pool", pool.definition(60, 4)
    for dataset, pruner in itertools.product(pruning.DATASETS, pruning.PRUNERS):
        yield f"bench.pruning:{dataset}:{pruner}", pruning.definition(dataset, pruner, 0, 60, 30)
    for dataset in quality.DATASETS:
        yield f"bench.quality:{dataset}", quality.definition(dataset, 0, 700)
    for dataset in mlp.DATASETS:
        yield f"bench.mlp:{dataset}", mlp.definition(dataset, 0, mlp.N_TRIALS, None)
    for size, scheme in itertools.product([*folds.SIZES, *folds.BUILTINS], folds.SCHEMES):
        yield f"bench.folds:{size}:{scheme}", folds.definition(size, scheme)
    for dataset, pruner, how in itertools.product(
        solver.DATASETS, ("none", "hyperband"), ("exact", "minibatch")
    ):
        definition = solver.study_definition(dataset, 30, pruner, solver=how)
        yield f"bench.solver:{dataset}:{pruner}:{how}", definition


def shipped() -> list[tuple[str, dict[str, Any]]]:
    found = [("OpenAPI example", EXAMPLE)]
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        found.append((f"examples/{path.name}", yaml.load(path.read_text(), DefinitionLoader)))
    for key, definition in json.loads(SMOKE_STUDIES.read_text()).items():
        found.append((f"scripts/{SMOKE_STUDIES.name}:{key}", definition))
    found += readme_definitions()
    found += bench_definitions()
    return found


SHIPPED = shipped()


def test_every_kind_of_shipped_definition_is_found() -> None:
    """The collection itself: a renamed folder or a reworded README must not empty it."""
    names = [name for name, _ in SHIPPED]
    assert sum(n.startswith("examples/") for n in names) >= 6
    assert sum(n.startswith("scripts/") for n in names) == 2
    assert sum(n.startswith("README.md") for n in names) >= 1
    assert {n.split(":")[0] for n in names if n.startswith("bench.")} == {
        "bench.api_seed",
        "bench.folds",
        "bench.mlp",
        "bench.overhead",
        "bench.pool",
        "bench.pruning",
        "bench.quality",
        "bench.solver",
    }


@pytest.mark.parametrize(("name", "definition"), SHIPPED, ids=[name for name, _ in SHIPPED])
def test_shipped_definition_is_accepted(name: str, definition: dict[str, Any]) -> None:
    """What ``POST /v1/studies`` would answer, short of storing it: no 422, and no warning
    (what the project shows is what it advises)."""
    spec = admit(json.loads(json.dumps(definition)), tenant="default", settings=Settings())
    assert warnings_of(spec) == []
