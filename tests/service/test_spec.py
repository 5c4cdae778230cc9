"""The definition's own rules: JSON types as written, bounds from the knob registry, and the
stored form reading back as what was accepted."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.spec.enums import Task
from regtune.service.spec.resolve import resolve_task
from regtune.service.spec.space import KNOBS, SearchSpace


def _with(path: str, value: Any) -> dict[str, Any]:
    definition = copy.deepcopy(EXAMPLE)
    *parents, leaf = path.split(".")
    node = definition
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return definition


def _problems(definition: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        StudySpec.model_validate(definition)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("budget.n_trials", True, "Input should be a valid integer"),
        ("budget.n_trials", "5", "Input should be a valid integer"),
        ("training.momentum", False, "Input should be a valid number"),
        ("training.momentum", "0.5", "Input should be a valid number"),
        ("model.batch_norm", 1, "Input should be a valid boolean"),
        ("model.batch_norm", "true", "Input should be a valid boolean"),
        ("model.hidden_layers", [8, True], "Input should be a valid integer"),
        ("task", "clustering", "Input should be 'auto', 'regression', 'binary' or 'multiclass'"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_at_their_path(
    path: str, value: Any, message: str
) -> None:
    found = _problems(_with(path, value))
    assert any(p.startswith(path) and m == message for p, m in found), found


def test_an_integer_is_a_valid_float_and_enum_values_are_read_from_strings() -> None:
    spec = StudySpec.model_validate(
        _with("search_space.lambda", {"low": 1, "high": 10, "log": True}) | {"task": "regression"}
    )
    assert spec.task is Task.REGRESSION
    assert dict(spec.search_space.items())["lambda"].values == (1.0, 10.0)


def test_the_readme_error_example_is_what_a_user_gets() -> None:
    [(path, message)] = _problems(_with("search_space.l1_ratio", 1.5))
    assert path == "search_space.l1_ratio"
    assert message == "Value error, must satisfy 0 ≤ l1_ratio ≤ 1, got 1.5"


def test_every_knob_has_its_bounds_in_the_registry() -> None:
    names = {field.alias or attr for attr, field in SearchSpace.model_fields.items()}
    assert set(KNOBS) == names - {"hidden_layers"}  # a choice among architectures, not a number
    assert [name for name, _ in SearchSpace().items()] == [
        "lambda",
        "l1_ratio",
        "dropout",
        "learning_rate",
        "input_noise",
        "layer_penalty",
    ]


def test_the_settings_limit_is_not_part_of_the_definition() -> None:
    spec = StudySpec.model_validate(_with("budget.n_trials", 10**9))
    assert StudySpec.from_stored(spec.to_stored()).budget.n_trials == 10**9


@pytest.mark.parametrize(
    "definition",
    [
        EXAMPLE,
        _with("objectives", ["val_loss", "n_nonzero"]) | {"pruner": {"type": "none"}},
        _with("search_space.dropout", 0.2) | {"sampler": {"type": "qmc"}},
        _with("dataset", {"synthetic": {"kind": "classification", "n_classes": 3}}),
        _with("pruner", {"type": "patient", "wrapped": {"type": "percentile"}}),
        _with("refit", False),
        _with("refit_rows", "non_test"),
        _with("objective", {"metric": "val_loss", "select": "one_se"})
        | {"validation": {"folds": 3}},
        _with("validation", {"folds": 3, "test_fraction": 0}),
        _with("training.lambda_path", None),
    ],
)
def test_a_stored_definition_reads_back_as_accepted(definition: dict[str, Any]) -> None:
    spec = resolve_task(StudySpec.model_validate(definition))
    assert StudySpec.from_stored(spec.to_stored()) == spec


def test_a_definition_stored_with_refit_rows_and_no_refit_reads_back() -> None:
    """Stored so by earlier versions, which failed such studies and could not show them."""
    stored = resolve_task(StudySpec.model_validate(_with("refit", False))).to_stored()
    assert StudySpec.from_stored(stored | {"refit_rows": "all"}).refit is False


def test_refit_rows_non_test_without_a_test_split_is_refused_at_refit_rows() -> None:
    """``test_fraction: 0`` holds out no row, so there are no test rows to leave out."""
    no_test = {"folds": 3, "test_fraction": 0}
    [(path, message)] = _problems(_with("refit_rows", "non_test") | {"validation": no_test})
    assert path == "refit_rows"
    assert "validation.test_fraction 0" in message and "leave refit_rows out" in message
    for rows in ({}, {"refit_rows": "all"}):
        assert StudySpec.model_validate(EXAMPLE | rows | {"validation": no_test}).refit
    stored = StudySpec.model_validate(EXAMPLE | {"validation": no_test}).to_stored()
    assert StudySpec.from_stored(stored | {"refit_rows": "non_test"}).refit_rows == "non_test"


def test_a_stored_definition_is_held_to_the_definition_rules() -> None:
    stored = StudySpec.model_validate(EXAMPLE).to_stored()
    stored["budget"]["n_trials"] = 0
    with pytest.raises(ValidationError, match=r"budget\.n_trials"):
        StudySpec.from_stored(stored)


def test_the_solver_follows_the_model_unless_given() -> None:
    linear = copy.deepcopy(EXAMPLE)
    del linear["training"]
    assert StudySpec.model_validate(linear).training.solver == "exact"
    mlp = linear | {"model": {"kind": "mlp"}, "search_space": {"learning_rate": 1e-3}}
    assert StudySpec.model_validate(mlp).training.solver == "minibatch"
    searched = _with("search_space.learning_rate", {"low": 1e-3, "high": 1e-1, "log": True})
    searched["training"] = {"solver": "minibatch"}
    spec = StudySpec.model_validate(searched)
    assert StudySpec.from_stored(spec.to_stored()) == spec


@pytest.mark.parametrize(
    ("path", "value", "where", "rule"),
    [
        ("model", {"kind": "mlp"}, "training.solver", "the exact solver trains linear models only"),
        (
            "search_space.batch_size",
            {"choices": [32, 64]},
            "search_space.batch_size",
            "the exact solver does not use batch_size",
        ),
    ],
)
def test_what_the_exact_solver_cannot_do_is_refused(
    path: str, value: Any, where: str, rule: str
) -> None:
    [(found, message)] = _problems(_with(path, value))
    assert found == where
    assert rule in message


@pytest.mark.parametrize(
    ("knob", "value", "rule"),
    [
        ("batch_norm", 2, "batch_norm must be true, false or {choices: [true, false]}"),
        ("batch_norm", {"low": 0, "high": 1}, "batch_norm must be true, false"),
        ("input_noise", -0.1, "must satisfy 0 ≤ input_noise ≤ 10"),
        ("layer_penalty", {"low": 0.0, "high": 1.0}, "layer_penalty applies to MLPs only"),
        ("batch_norm", {"choices": [True, False]}, "batch_norm applies to MLPs only"),
        ("batch_norm", {"choices": [True, "x"]}, "false or {choices: [true, false]}, got the"),
        ("batch_norm", {"choices": [False, 2]}, "batch_norm must be true, false or {choices"),
    ],
)
def test_the_seeds_knobs_are_checked_at_their_path(knob: str, value: Any, rule: str) -> None:
    [(found, message)] = _problems(_with(f"search_space.{knob}", value))
    assert found == f"search_space.{knob}"
    assert rule in message


def test_batch_norm_reads_true_and_false_and_its_choices() -> None:
    definition = _with("search_space.batch_norm", {"choices": [True, False]})
    definition |= {"model": {"kind": "mlp"}, "training": {"solver": "minibatch"}}
    spec = StudySpec.model_validate(definition)
    assert dict(spec.search_space.searched())["batch_norm"].values == (0.0, 1.0)
    assert StudySpec.from_stored(spec.to_stored()) == spec
    definition["search_space"]["batch_norm"] = True
    batch_norm = StudySpec.model_validate(definition).search_space.batch_norm
    assert batch_norm is not None and batch_norm.values == (1.0, 1.0)


@pytest.mark.parametrize("given", [{"choices": [True, False]}, True, False])
def test_batch_norm_reads_back_as_written(given: object) -> None:
    """The definition's answer says true/false, not the 1.0/0.0 the knob holds."""
    definition = _with("search_space.batch_norm", given)
    definition |= {"model": {"kind": "mlp"}, "training": {"solver": "minibatch"}}
    spec = StudySpec.model_validate(definition)
    answer = spec.model_dump(mode="json", by_alias=True)["search_space"]["batch_norm"]
    assert json.dumps(answer) == json.dumps(given)  # 1.0 == True: compare as written
    assert StudySpec.from_stored(spec.to_stored()) == spec


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ({"low": 16, "high": 128, "step": 0.5}, "0.5"),
        ({"low": 16.5, "high": 128, "step": 16}, "16.5"),
        ({"choices": [32.5, 64]}, "32.5"),
        (33.3, "33.3"),
    ],
    ids=["step", "low", "choice", "fixed"],
)
def test_a_batch_size_that_is_not_a_whole_number_is_refused(value: Any, got: str) -> None:
    """A step of 0.5 was accepted and every trial failed in Optuna's suggest_int (step 0); a
    batch of 32.5 rows was cut to 32 without a word."""
    definition = _with("training.solver", "minibatch")
    definition["search_space"]["batch_size"] = value
    [(found, message)] = _problems(definition)
    assert found == "search_space.batch_size"
    assert f"batch_size takes whole numbers, got {got}" in message
    assert StudySpec.from_stored(definition).search_space.batch_size is not None  # as accepted


def test_refit_false_fused_with_dropout_is_accepted() -> None:
    """Its saved model, a member retrained as a fused pass of one, is the trial's own (was a 422:
    retrained alone, it drew other masks)."""
    definition = _with("model", {"kind": "mlp", "hidden_layers": [8]})
    definition["training"] = {"solver": "minibatch", "fused_trials": 4}
    definition["search_space"]["dropout"] = {"low": 0.0, "high": 0.3}
    definition["refit"] = False
    assert StudySpec.model_validate(definition).training.fused_trials == 4


def test_a_choice_out_of_range_is_named_as_the_choice() -> None:
    """Choices were said as the range between the extreme ones: ``{choices: [0.1, 1.5]}`` got
    "got 0.1..1.5", a range nobody wrote."""
    [(path, message)] = _problems(_with("search_space.l1_ratio", {"choices": [0.1, 1.5, 0.5]}))
    assert path == "search_space.l1_ratio"
    assert message == "Value error, must satisfy 0 ≤ l1_ratio ≤ 1, got the choice 1.5"


@pytest.mark.parametrize(
    "given",
    [32, {"choices": [16, 32]}, {"low": 8, "high": 64, "log": False, "step": 1}],
)
def test_a_whole_number_knob_reads_back_in_whole_numbers(given: object) -> None:
    """``batch_size`` in the definition's answer as it is written, not ``32.0``."""
    definition = _with("search_space.batch_size", given)
    definition |= {"model": {"kind": "mlp"}, "training": {"solver": "minibatch"}}
    spec = StudySpec.model_validate(definition)
    answer = spec.model_dump(mode="json", by_alias=True)["search_space"]["batch_size"]
    assert json.dumps(answer) == json.dumps(given)  # 32.0 == 32: compare as written
    assert StudySpec.from_stored(spec.to_stored()) == spec
