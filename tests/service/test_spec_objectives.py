"""Sparsity in the study definition: a constraint, or several objectives (a Pareto front)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_directions, objective_names


def spec(**extra: Any) -> StudySpec:
    return StudySpec.model_validate({"name": "s", "dataset": {"builtin": "diabetes"}, **extra})


def problems(**extra: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        spec(**extra)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_two_objectives_minimize_loss_and_weights_and_turn_pruning_off() -> None:
    s = spec(objectives=["val_loss", "n_nonzero"])
    assert objective_names(s) == ["val_loss", "n_nonzero"]
    assert objective_directions(s) == ["minimize", "minimize"]
    assert s.objective.metric == "val_loss"
    assert s.pruner.type == "none"


def test_a_maximized_metric_keeps_its_direction_beside_sparsity() -> None:
    s = StudySpec.model_validate(
        {
            "name": "s",
            "dataset": {"builtin": "breast_cancer"},
            "objectives": ["val_auc", "n_inputs"],
        }
    )
    assert objective_directions(s) == ["maximize", "minimize"]


def test_an_explicit_pruner_with_several_objectives_is_refused_with_its_path() -> None:
    [(path, message)] = problems(objectives=["val_loss", "n_nonzero"], pruner={"type": "median"})
    assert path == "pruner" and "not pruned" in message
    assert spec(objectives=["val_loss", "n_nonzero"], pruner={"type": "none"}).pruner.type == "none"


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ({"objectives": ["n_nonzero", "val_loss"]}, "objectives", "validation metric"),
        ({"objectives": ["val_loss", "val_loss"]}, "objectives", "distinct"),
        ({"objectives": ["val_loss"]}, "objectives", "at least 2"),
        ({"objectives": ["val_loss", "weights"]}, "objectives.1", "val_loss"),
        (
            {"objectives": ["val_loss", "n_nonzero"], "sampler": {"type": "cmaes"}},
            "sampler",
            "cmaes",
        ),
        ({"objective": {"max_nonzero": -1}}, "objective.max_nonzero", "greater than or equal"),
    ],
)
def test_bad_sparsity_settings_name_field_and_rule(
    extra: dict[str, Any], path: str, words: str
) -> None:
    found = problems(**extra)
    assert any(p == path and words in m for p, m in found), found


def test_objective_metric_must_agree_with_the_first_objective() -> None:
    [(_, message)] = problems(objectives=["val_loss", "n_nonzero"], objective={"metric": "val_r2"})
    assert "objectives[0]" in message


def test_max_nonzero_is_a_single_objective_constraint() -> None:
    s = spec(objective={"metric": "val_loss", "max_nonzero": 5})
    assert s.objective.max_nonzero == 5
    assert objective_names(s) == ["val_loss"]
    assert s.pruner.type == "median"  # pruning still applies


CONTRARY = [
    ("diabetes", "val_loss", "maximize", "minimize"),
    ("diabetes", "val_rmse", "maximize", "minimize"),
    ("diabetes", "val_r2", "minimize", "maximize"),
    ("breast_cancer", "val_accuracy", "minimize", "maximize"),
    ("breast_cancer", "val_auc", "minimize", "maximize"),
]


@pytest.mark.parametrize(("dataset", "metric", "given", "needed"), CONTRARY)
def test_a_direction_against_the_metric_is_refused_at_objective_direction(
    dataset: str, metric: str, given: str, needed: str
) -> None:
    """Minimizing R² (or maximizing a loss) would make the worst model the study's best."""
    [(path, message)] = problems(
        dataset={"builtin": dataset}, objective={"metric": metric, "direction": given}
    )
    assert path == "objective.direction"
    assert f"{metric} needs direction {needed}" in message and f"got {given}" in message
    assert "leave direction out" in message
    given_right = spec(
        dataset={"builtin": dataset}, objective={"metric": metric, "direction": needed}
    )
    left_out = spec(dataset={"builtin": dataset}, objective={"metric": metric})
    assert given_right.objective.direction == left_out.objective.direction == needed


def test_a_direction_against_the_first_of_several_objectives_is_refused() -> None:
    """With ``objectives``, ``objective.direction`` is the first objective's; the others (the
    sparsity measures) have no direction to give."""
    [(path, message)] = problems(
        objectives=["val_r2", "n_nonzero"], objective={"metric": "val_r2", "direction": "minimize"}
    )
    assert path == "objective.direction" and "val_r2 needs direction maximize" in message
    s = spec(
        objectives=["val_r2", "n_nonzero"], objective={"metric": "val_r2", "direction": "maximize"}
    )
    assert objective_directions(s) == ["maximize", "minimize"]


def test_a_stored_definition_with_a_contrary_direction_reads_back_as_it_ran() -> None:
    """A study accepted before the rule keeps the direction its Optuna study was created with."""
    stored = spec(objective={"metric": "val_r2"}).to_stored()
    stored["objective"]["direction"] = "minimize"
    assert objective_directions(StudySpec.from_stored(stored)) == ["minimize"]
