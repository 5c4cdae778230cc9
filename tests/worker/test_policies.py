"""Every sampler and pruner a definition admits builds its Optuna counterpart; nothing else does."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any, get_args

import optuna
import pytest

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.spec.policies import Pruner, Sampler
from regtune.worker.policies import make_pruner, make_sampler


def _types(union: Any) -> list[str]:
    members = get_args(get_args(union)[0])
    return [get_args(m.model_fields["type"].annotation)[0] for m in members]


def _spec(**parts: Any) -> StudySpec:
    definition = copy.deepcopy(EXAMPLE)
    definition["search_space"] = {"lambda": {"choices": [0.1, 1.0]}, "l1_ratio": 0.5}
    definition.update(parts)
    return StudySpec.model_validate(definition)


@pytest.mark.parametrize("kind", _types(Sampler))
def test_every_sampler_type_builds(kind: str) -> None:
    sampler = make_sampler(_spec(sampler={"type": kind, "seed": 1}), claim_seq=3)
    assert isinstance(sampler, optuna.samplers.BaseSampler)


@pytest.mark.parametrize("kind", _types(Pruner))
def test_every_pruner_type_builds(kind: str) -> None:
    extra = {"lower": 0.0} if kind == "threshold" else {}
    pruner = make_pruner(_spec(pruner={"type": kind, **extra}))
    assert isinstance(pruner, optuna.pruners.BasePruner)


def test_an_unknown_sampler_or_pruner_is_an_error_not_a_fallback() -> None:
    alien = SimpleNamespace(type="bayesopt", seed=None)
    unknown = _spec().model_copy(update={"sampler": alien, "pruner": alien})
    with pytest.raises(AssertionError):
        make_sampler(unknown)
    with pytest.raises(AssertionError):
        make_pruner(unknown)


def test_hyperband_auto_counts_the_exact_solvers_reports() -> None:
    spec = _spec(
        pruner={"type": "hyperband"},
        training={"solver": "exact", "max_iter": 1_000, "report_every": 30},
    )
    pruner = make_pruner(spec)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert pruner._max_resource == 34  # ceil(1000 / 30)


def _pruned(spec: StudySpec, study_name: str) -> list[int]:
    """The trials a study of that name prunes, each trial's curve the same in every study (best at
    step 10, worse after it, so that a patient pruner hands the decision to the wrapped one)."""
    study = optuna.create_study(study_name=study_name, pruner=make_pruner(spec))
    pruned = []
    for n in range(40):
        trial = study.ask()
        for step in range(1, 28):
            trial.report(abs(1 / step - 0.1) + (n * 7 % 11) / 10, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                pruned.append(n)
                break
        else:
            study.tell(trial, abs(1 / 27 - 0.1) + (n * 7 % 11) / 10)
    return pruned


@pytest.mark.parametrize(
    "pruner",
    [
        {"type": "hyperband", "min_resource": 1, "reduction_factor": 3},
        {"type": "patient", "patience": 0, "wrapped": {"type": "hyperband"}},
    ],
)
def test_hyperband_prunes_the_same_trials_whatever_the_studys_id(pruner: dict[str, Any]) -> None:
    """A study's Optuna name carries its id, new for every submission; Optuna's Hyperband drew
    a trial's bracket from that name, so the same definition pruned other trials each time.
    The bracket follows the stored sampler seed: another seed may place trials otherwise."""
    spec = _spec(pruner=pruner, sampler={"type": "tpe", "seed": 7})
    first = _pruned(spec, "tuned [0123456789abcdef]")
    assert first and _pruned(spec, "tuned-again [fedcba9876543210]") == first
    other = spec.model_copy(update={"sampler": spec.sampler.model_copy(update={"seed": 8})})
    assert _pruned(other, "tuned [0123456789abcdef]") != first
