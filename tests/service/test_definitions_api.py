"""Malformed study definitions get a clear 4xx naming the field, and create nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE, StudySpec
from tests.inprocess import Apps
from tests.support import Processes, process_env, regtune, wait_for


@pytest.fixture
def api(apps: Apps) -> TestClient:
    return apps(max_trials_per_study=1000)


def _with(path: str, value: Any) -> dict[str, Any]:
    definition = copy.deepcopy(EXAMPLE)
    *parents, leaf = path.split(".")
    node = definition
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return definition


def _without(path: str) -> dict[str, Any]:
    definition = copy.deepcopy(EXAMPLE)
    *parents, leaf = path.split(".")
    node = definition
    for key in parents:
        node = node[key]
    del node[leaf]
    return definition


# (case id, body, content type, expected status, field path that must be named)
CASES: list[tuple[str, Any, str, int, str]] = [
    ("negative lambda", _with("search_space.lambda", -1.0), "json", 422, "search_space.lambda"),
    (
        "lambda range from 0, log",
        _with("search_space.lambda", {"low": 0, "high": 1, "log": True}),
        "json",
        422,
        "search_space.lambda",
    ),
    ("l1_ratio 1.5", _with("search_space.l1_ratio", 1.5), "json", 422, "search_space.l1_ratio"),
    (
        "l1_ratio range above 1",
        _with("search_space.l1_ratio", {"low": 0.5, "high": 2}),
        "json",
        422,
        "search_space.l1_ratio",
    ),
    ("dropout 1.0", _with("search_space.dropout", 1.0), "json", 422, "search_space.dropout"),
    (
        "low >= high",
        _with("search_space.learning_rate", {"low": 0.1, "high": 0.01}),
        "json",
        422,
        "search_space.learning_rate",
    ),
    (
        "exact solver for an MLP",
        _with("model", {"kind": "mlp"}),
        "json",
        422,
        "training.solver",
    ),
    (
        "learning rate searched under the exact solver",
        _with("search_space.learning_rate", {"low": 1e-3, "high": 1e-1, "log": True}),
        "json",
        422,
        "search_space.learning_rate",
    ),
    ("unknown sampler", _with("sampler", {"type": "bayesopt"}), "json", 422, "sampler"),
    ("unknown pruner", _with("pruner", {"type": "magic"}), "json", 422, "pruner"),
    (
        "hyperband reduction_factor 1",
        _with("pruner", {"type": "hyperband", "reduction_factor": 1}),
        "json",
        422,
        "pruner.reduction_factor",
    ),
    ("grid over a continuous range", _with("sampler", {"type": "grid"}), "json", 422, "sampler"),
    ("unknown top-level key", _with("learning", 1), "json", 422, "learning"),
    ("unknown nested key", _with("training.epochs", 10), "json", 422, "training.epochs"),
    ("n_trials 0", _with("budget.n_trials", 0), "json", 422, "budget.n_trials"),
    (
        "n_trials above the configured maximum",
        _with("budget.n_trials", 10**12),
        "json",
        422,
        "budget.n_trials",
    ),
    ("max_epochs 0", _with("training.max_epochs", 0), "json", 422, "training.max_epochs"),
    ("absurd lambda", _with("search_space.lambda", 1e300), "json", 422, "search_space.lambda"),
    ("wrong type for n_trials", _with("budget.n_trials", "many"), "json", 422, "budget.n_trials"),
    ("wrong type for model", _with("model", "mlp"), "json", 422, "model"),
    ("unsafe name", _with("name", "../../etc/passwd"), "json", 422, "name"),
    ("missing dataset", _without("dataset"), "json", 422, "dataset"),
    ("unknown builtin dataset", _with("dataset", {"builtin": "mnist"}), "json", 422, "dataset"),
    ("a regression called binary", _with("task", "binary"), "json", 422, "task"),
    (
        "a binary dataset called multiclass",
        {**_with("dataset", {"builtin": "breast_cancer"}), "task": "multiclass"},
        "json",
        422,
        "task",
    ),
    (
        "ten classes called binary",
        {**_with("dataset", {"builtin": "digits"}), "task": "binary"},
        "json",
        422,
        "task",
    ),
    (
        "synthetic regression called binary",
        {**_with("dataset", {"synthetic": {"kind": "sparse_regression"}}), "task": "binary"},
        "json",
        422,
        "task",
    ),
    (
        "synthetic classes beyond the informative features' corners",
        _with(
            "dataset",
            {"synthetic": {"kind": "classification", "n_classes": 6, "n_informative": 2}},
        ),
        "json",
        422,
        "dataset.synthetic",
    ),
    (
        "metric not for the task",
        _with("objective", {"metric": "val_accuracy"}),
        "json",
        422,
        "objective.metric",
    ),
    ("empty body", "", "json", 400, "body"),
    ("JSON syntax error", '{"name": "x",', "json", 400, "body"),
    ("YAML syntax error", "name: [unclosed\n  dataset: {", "yaml", 400, "body"),
    ("a list, not a mapping", "[1, 2, 3]", "json", 400, "body"),
]


def _post(api: TestClient, body: Any, kind: str) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    content_type = "application/yaml" if kind == "yaml" else "application/json"
    return api.post("/v1/studies", content=content, headers={"Content-Type": content_type})


def _count(api: TestClient) -> int:
    return int(api.get("/v1/studies").json()["total"])


@pytest.mark.parametrize(
    ("body", "kind", "status", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_definition_is_rejected(
    api: TestClient, body: Any, kind: str, status: int, path: str
) -> None:
    before = _count(api)
    response = _post(api, body, kind)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["fields"], error
    assert any(f["path"] == path or f["path"].startswith(path + ".") for f in error["fields"]), (
        error
    )
    assert all(f["rule"] for f in error["fields"])
    assert _count(api) == before


@pytest.mark.parametrize(
    ("path", "value", "width"),
    [
        ("search_space.lambda", {"low": 1e-3, "high": 1.0, "step": 5.0}, "0.999"),
        ("search_space.l1_ratio", {"low": 0.2, "high": 0.4, "step": 0.3}, "0.2"),
        ("search_space.batch_size", {"low": 16, "high": 32, "step": 64}, "16"),
    ],
    ids=["lambda", "l1_ratio", "batch_size"],
)
def test_a_step_wider_than_its_range_is_a_422(
    api: TestClient, path: str, value: dict[str, float], width: str
) -> None:
    """It was accepted and every trial drew ``low``: a search of one value, said nowhere. One
    step of the whole width (low and high) is accepted; a definition stored before the rule
    reads back as it was accepted."""
    minibatch = {"model": {"kind": "mlp"}, "training": {"solver": "minibatch"}}
    extra = minibatch if path.endswith("batch_size") else {}
    before = _count(api)
    refused = _post(api, _with(path, value) | extra, "json")
    assert refused.status_code == 422, refused.text
    [field] = refused.json()["error"]["fields"]
    assert field["path"] == path, field
    assert f"step must be at most high - low ({width}), got step=" in field["rule"], field
    assert "the range would hold low alone" in field["rule"], field
    assert _count(api) == before
    assert StudySpec.from_stored(_with(path, value) | extra) is not None
    whole = value | {"step": value["high"] - value["low"]}
    assert _post(api, _with(path, whole) | extra, "json").status_code == 201


WRITTEN = [
    # (what is wrong, the definition, the path as the user wrote it; pydantic's location)
    (
        "a sampler's option",
        _with("sampler", {"type": "tpe", "n_startup_trials": -1}),
        "sampler.n_startup_trials",  # sampler.tpe.n_startup_trials
    ),
    (
        "a pruner's option",
        _with("pruner", {"type": "median", "n_warmup_steps": -1}),
        "pruner.n_warmup_steps",  # pruner.median.n_warmup_steps
    ),
    (
        "a range's flag",
        _with("search_space.lambda", {"low": 1e-6, "high": 10, "log": "yes"}),
        "search_space.lambda.log",  # search_space.lambda.range.log
    ),
    (
        "a range's missing end",
        _with("search_space.lambda", {"low": 1e-6}),
        "search_space.lambda.high",  # search_space.lambda.range.high
    ),
    (
        "one of the choices",
        _with("search_space.lambda", {"choices": [1, "a"]}),
        "search_space.lambda.choices.1",  # search_space.lambda.choices.choices.1
    ),
    (
        "an unknown builtin dataset",
        _with("dataset", {"builtin": "mnist"}),
        "dataset.builtin",  # dataset.builtin.builtin
    ),
    ("a malformed dataset id", _with("dataset", {"id": "abc"}), "dataset.id"),  # dataset.id.id
    (
        "a key beside the dataset's",
        _with("dataset", {"builtin": "diabetes", "x": 1}),
        "dataset.x",  # dataset.builtin.x
    ),
    (
        "a synthetic dataset's rule",
        _with("dataset", {"synthetic": {"kind": "friedman1", "n_features": 3}}),
        "dataset.synthetic",  # dataset.synthetic.synthetic
    ),
    (
        "a synthetic dataset's missing kind",
        _with("dataset", {"synthetic": {}}),
        "dataset.synthetic.kind",  # dataset.synthetic.synthetic.kind
    ),
]


@pytest.mark.parametrize(("body", "path"), [c[1:] for c in WRITTEN], ids=[c[0] for c in WRITTEN])
def test_the_422_names_the_field_as_the_user_wrote_it(
    api: TestClient, body: dict[str, Any], path: str
) -> None:
    """Not through the union member pydantic chose (``sampler.tpe.…``): a key the user wrote."""
    response = _post(api, body, "json")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [f["path"] for f in error["fields"]] == [path], error
    assert error["message"].startswith(f"{path}: "), error


HALVING = {"type": "successive_halving"}
WRAPPED = {"type": "patient", "patience": 2}
MEMBERS = [
    # (what is wrong, the definition, the field, its one rule; pydantic's locations, a problem
    # each: one per member of the union, e.g. training.batch_size.int and .literal['full'])
    (
        "a batch size in words",
        _with("training.batch_size", "half"),
        "training.batch_size",
        "must be a whole number or 'full', got the text 'half'",
    ),
    (
        "a fractional batch size",
        _with("training.batch_size", 1.5),
        "training.batch_size",
        "must be a whole number or 'full', got the number 1.5",
    ),
    (
        "a batch size in quotes",
        _with("training.batch_size", "64"),
        "training.batch_size",
        "must be a whole number or 'full', got the text '64' (write it without quotes)",
    ),
    (
        "a null batch size",
        _with("training.batch_size", None),
        "training.batch_size",
        "must be a whole number or 'full', got null",
    ),
    (
        "a pruner's resource in words",
        _with("pruner", HALVING | {"min_resource": "all"}),
        "pruner.min_resource",  # pruner.successive_halving.min_resource.int, ….literal['auto']
        "must be a whole number or 'auto', got the text 'all'",
    ),
    (
        "a wrapped pruner's resource",
        _with("pruner", WRAPPED | {"wrapped": {"type": "hyperband", "max_resource": 2.5}}),
        "pruner.wrapped.max_resource",
        "must be a whole number or 'auto', got the number 2.5",
    ),
    (
        "a knob neither number, range nor choices",
        _with("search_space.lambda", True),
        "search_space.lambda",
        "a parameter is a number, {low, high[, log][, step]} or {choices: [...]}, got the "
        "boolean true",
    ),
]


@pytest.mark.parametrize(
    ("body", "path", "rule"), [c[1:] for c in MEMBERS], ids=[c[0] for c in MEMBERS]
)
def test_a_value_no_member_of_a_union_takes_is_one_problem_at_its_field(
    api: TestClient, body: dict[str, Any], path: str, rule: str
) -> None:
    """``batch_size: "half"`` was two problems at fields that do not exist,
    ``training.batch_size.int`` and ``training.batch_size.literal['full']``, each with one
    member's rule: now one at the field, with what it takes and what it got."""
    response = _post(api, body, "json")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["fields"] == [{"path": path, "rule": rule}], error
    assert error["message"] == f"{path}: {rule}"


def test_valid_yaml_definition_is_accepted_and_a_duplicate_name_is_a_conflict(
    api: TestClient,
) -> None:
    import yaml

    body = yaml.safe_dump(_with("name", "yaml-study"))
    first = _post(api, body, "yaml")
    assert first.status_code == 201, first.text
    assert first.json()["definition"]["task"] == "regression"
    again = _post(api, body, "yaml")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    study_id = first.json()["id"]  # the one in the way, and how to clear it
    assert f"(id {study_id})" in again.json()["error"]["message"]
    assert f"regtune rm {study_id}" in again.json()["error"]["message"]
    assert api.delete(f"/v1/studies/{first.json()['id']}").status_code == 204
    assert api.get(f"/v1/studies/{first.json()['id']}").status_code == 404


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "name: x\ndataset: {builtin: diabetes\nmodel: {kind: linear}\n",
            "expected ',' or '}', but got ':' at line 3, column 6 (while parsing a flow mapping "
            "from line 2)",
        ),
        ("name: x\nbudget:\n\tn_trials: 3\n", "at line 3, column 1"),
        (
            "budget: {n_trials: 3}\nname: x\nbudget: {n_trials: 5}\n",
            "'budget' is given twice at line 3, column 1",
        ),
        (
            "name: xdataset: {builtin: diabetes}model: {kind: linear}",
            "curl -d drops line breaks, --data-binary keeps them",
        ),
        (
            "# a definition with a comment first, sent by curl -dname: x",
            "must be a mapping (a JSON object) (the YAML came as one line: curl -d drops",
        ),
    ],
    ids=[
        "unclosed flow mapping",
        "tab indent",
        "key given twice",
        "one line (curl -d)",
        "one comment line (curl -d)",
    ],
)
def test_a_yaml_mistake_is_a_400_that_says_where(api: TestClient, text: str, said: str) -> None:
    """Sent as curl sends it (its User-Agent), so that the one-line hint speaks of curl -d."""
    headers = {"Content-Type": "application/yaml", "User-Agent": "curl/8.5.0"}
    answer = api.post("/v1/studies", content=text, headers=headers)
    assert answer.status_code == 400, answer.text
    assert said in answer.json()["error"]["message"], answer.json()


@pytest.mark.parametrize(
    ("path", "value", "said"),
    [
        (
            "name",
            "bad name!",
            "name: must be 1 to 128 ASCII letters (A-Z, a-z), digits, '.', '_' or '-', "
            "starting with a letter or digit, got 'bad name!'",
        ),
        ("name", "x" * 200, "name: must be 1 to 128 ASCII letters"),
        ("name", "étude-café", "name: must be 1 to 128 ASCII letters (A-Z, a-z)"),
        ("name", "x" * 100_000, f"or digit, got '{'x' * 80}'… (100,000 characters)"),
        ("name", 123, "name: must be text, got the number 123 (in YAML, quote it: '123')"),
        ("dataset", {"id": "Not-An-Id"}, "dataset.id: must be 8 to 64 lowercase hexadecimal"),
    ],
    ids=[
        "a space and a bang",
        "200 characters",
        "letters past ASCII",
        "100,000 characters",
        "a number",
        "a dataset id",
    ],
)
def test_a_rule_is_said_in_words_not_as_a_pattern(
    api: TestClient, path: str, value: Any, said: str
) -> None:
    answer = _post(api, _with(path, value), "json")
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["error"]["message"], answer.json()
    assert "should match pattern" not in answer.text
    assert len(answer.content) < 2_000, "a refused value is not repeated whole"


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("true", "must be text, got the boolean true (in YAML, true and false are booleans"),
        ("False", "must be text, got the boolean false (in YAML, true and false are booleans"),
        ("2024-01-01", "must be text, got the date 2024-01-01 (in YAML, quote it: '2024-01-01')"),
        ("2024-01-01 10:00:00", "must be text, got the date 2024-01-01 10:00:00 (in YAML, quote"),
    ],
)
def test_a_yaml_name_read_as_a_boolean_or_a_date_is_a_422_that_says_to_quote_it(
    api: TestClient, written: str, said: str
) -> None:
    """Was a bare "Input should be a valid string", where a number got the hint."""
    text = yaml.safe_dump(EXAMPLE, sort_keys=False).replace(
        f"name: {EXAMPLE['name']}", f"name: {written}"
    )
    answer = _post(api, text, "yaml")
    assert answer.status_code == 422, answer.text
    [field] = answer.json()["error"]["fields"]
    assert field["path"] == "name" and said in field["rule"], field
    quoted = _post(api, text.replace(f"name: {written}", "name: 'yes-quoted'"), "yaml")
    assert quoted.status_code == 201, quoted.text
    # YAML 1.2: yes, no, on and off are text (YAML 1.1's booleans)
    bare = _post(api, text.replace(f"name: {written}", "name: yes"), "yaml")
    assert bare.status_code == 201 and bare.json()["name"] == "yes", bare.text


def test_unknown_study_and_trial_are_404(api: TestClient) -> None:
    assert api.get("/v1/studies/nope").status_code == 404
    created = _post(api, _with("name", "empty"), "json").json()
    missing = api.get(f"/v1/studies/{created['id']}/trials/7")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_a_study_the_api_accepted_runs_on_a_worker_with_a_lower_trial_limit(
    api: TestClient, processes: Processes
) -> None:
    """Settings limits are checked when a study is created, never when a worker reads it back."""
    definition = _with("name", "above-the-worker-limit")
    definition["budget"] = {"n_trials": 12, "max_parallel": 2}
    created = _post(api, definition, "json")
    assert created.status_code == 201, created.text
    from regtune.service.settings import get_settings

    lower = process_env(
        get_settings().database_url,
        REGTUNE_MAX_TRIALS_PER_STUDY="5",
        REGTUNE_OBJECTIVE_FACTORY="bench.sleep_objective:make_objective",
        REGTUNE_SLEEP_TRIAL_SECONDS="0",
    )
    worker = processes.start(regtune("worker"), lower, "worker-lower-limit.log")
    study = wait_for(
        lambda: (
            (s := api.get(f"/v1/studies/{created.json()['id']}").json())["status"]
            in ("completed", "failed")
            and s
        ),
        timeout=180,
        what="the study to end",
    )
    assert study["status"] == "completed", (study, worker.log())
    assert study["counts"]["COMPLETE"] + study["counts"]["PRUNED"] == 12
    assert study["error"] is None
    assert worker.alive()


def test_a_direction_against_the_metric_is_a_422_that_says_which_it_needs(
    api: TestClient,
) -> None:
    before = _count(api)
    body = _with("objective", {"metric": "val_r2", "direction": "minimize"})
    response = _post(api, body, "json")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    [field] = error["fields"]
    assert field["path"] == "objective.direction"
    assert field["rule"] == (
        "val_r2 needs direction maximize (higher is better), got minimize: give maximize or "
        "leave direction out (it follows the metric)"
    )
    assert error["message"] == f"objective.direction: {field['rule']}"
    assert _count(api) == before
    body["objective"]["direction"] = "maximize"
    assert _post(api, body, "json").status_code == 201


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", None]
)
def test_a_yaml_definition_sent_as_json_is_a_400_that_says_how_to_send_yaml(
    api: TestClient, content_type: str | None
) -> None:
    """``curl --data-binary @def.yaml`` (a form's type) or with the quickstart's JSON header:
    the answer said only "not valid JSON: Expecting value", of a file that is a valid
    definition, and not that YAML wants its own content type."""
    import yaml

    headers = {"Content-Type": content_type} if content_type else {}
    body = yaml.safe_dump(_with("name", "yaml-as-json"))
    answer = api.post("/v1/studies", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert message.startswith("the body is not valid JSON"), message
    assert "it reads as YAML" in message
    assert "send YAML with the header Content-Type: application/yaml" in message
    not_yaml = api.post(
        "/v1/studies", content="{name: [", headers={"Content-Type": "application/json"}
    )
    assert "reads as YAML" not in not_yaml.json()["error"]["message"]


def test_a_number_sent_as_text_is_a_422_that_says_what_to_write(api: TestClient) -> None:
    """A definition read with PyYAML's ``safe_load`` and sent as a mapping carries ``1e-5`` as
    the text '1e-5' (YAML 1.1 wants a decimal point): the 422 said "Input should be a valid
    number" of what reads as a number, with no word of why or what to write."""
    import yaml

    read = yaml.safe_load(
        "name: pyyaml-read\ndataset: {builtin: diabetes}\nmodel: {kind: linear}\n"
        "search_space: {lambda: {low: 1e-5, high: 10, log: true}}\n"
        "training: {tol: 1e-6, max_epochs: 1e2}\nbudget: {n_trials: '4'}\n"
    )
    assert read["search_space"]["lambda"]["low"] == "1e-5"  # as PyYAML reads it
    answer = api.post("/v1/studies", json=read)
    assert answer.status_code == 422, answer.text
    rules = {f["path"]: f["rule"] for f in answer.json()["error"]["fields"]}
    assert rules["search_space.lambda.low"] == (
        "must be a number, got the text '1e-5' (PyYAML's safe_load reads a number with an "
        "exponent and no decimal point as text: write 1.0e-5, or send the file itself: regtune "
        "submit FILE, Client.submit(Path(FILE)))"
    )
    assert "write 1.0e-6" in rules["training.tol"]
    # a whole-number field refuses 1.0e2 as it refuses 100.0: the whole number to write
    assert "got the text '1e2'" in rules["training.max_epochs"]
    assert "write 100, or send" in rules["training.max_epochs"], rules["training.max_epochs"]
    assert rules["budget.n_trials"] == "must be a whole number, got the text '4' (write it " + (
        "without quotes)"
    )
    listing = api.get("/v1/studies", params={"limit": "1.5"})  # a query is text: no quotes
    assert listing.status_code == 422 and "quotes" not in listing.text


KINDS = "a parameter is a number, {low, high[, log][, step]} or {choices: [...]}, got "


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        (
            "search_space.dropout",
            "0.2",
            "must be a number, got the text '0.2' (write it without quotes)",
        ),
        ("search_space.lambda", "1e-5", "must be a number, got the text '1e-5' (PyYAML's"),
        ("search_space.dropout", "high", KINDS + "the text 'high'"),
        ("search_space.dropout", [0.1, 0.2], KINDS + "a list"),
        ("search_space.dropout", None, KINDS + "null"),
    ],
    ids=["a number in quotes", "an exponent in quotes", "a word", "a list", "null"],
)
def test_a_knob_of_no_kind_is_told_what_it_got(
    api: TestClient, path: str, value: Any, rule: str
) -> None:
    """``dropout: "0.2"`` was "a parameter is a number, {low, high[, log][, step]} or {choices:
    [...]}", naming nothing received, where a number field says "got the text '0.1' (write it
    without quotes)": a knob in quotes is now told as a number field is, and any other value
    no kind takes is named."""
    response = _post(api, _with(path, value), "json")
    assert response.status_code == 422, response.text
    [field] = response.json()["error"]["fields"]
    assert field["path"] == path, field
    assert field["rule"].startswith(rule), field
