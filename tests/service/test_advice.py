"""Warnings about a valid definition (``StudyOut.warnings``): a pruner that prunes what early
stopping would keep, or that can decide only at a trial's last epoch. The study is created all
the same (201); the warnings come with it, stay with it, and the CLI says them on stderr."""

from __future__ import annotations

import contextvars
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

import regtune
from regtune.service.spec.advice import warnings_of
from regtune.service.spec.definition import StudySpec
from tests.inprocess import cli_result, run_to_the_end
from tests.service.test_client_optuna import ThroughApp

MLP: dict[str, Any] = {
    "name": "plateaus",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [8]},
    "search_space": {
        "lambda": {"low": 1e-5, "high": 1.0, "log": True},
        "l1_ratio": 0.0,
        "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
    },
    "training": {"max_epochs": 30, "early_stopping": {"patience": 5}},
    "validation": {"holdout": 0.2},
    "sampler": {"type": "random", "seed": 1},
    "pruner": {"type": "patient", "patience": 1},
    "budget": {"n_trials": 6, "max_parallel": 6},
}


def _with(**parts: Any) -> dict[str, Any]:
    definition = copy.deepcopy(MLP)
    for key, value in parts.items():
        if isinstance(value, dict) and "type" not in value:  # a part changed, else replaced
            definition[key] = {**definition[key], **value}
        else:
            definition[key] = value
    return definition


def _warnings(definition: dict[str, Any]) -> list[str]:
    return warnings_of(StudySpec.model_validate(definition))


def _run(api: TestClient, definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The trials of the study ``definition`` creates, run to its budget by a worker of this
    process (single trials: a claim is a trial)."""
    from regtune.worker.loop import Worker

    created = api.post("/v1/studies", json=definition).json()
    n = definition["budget"]["n_trials"]
    assert contextvars.copy_context().run(Worker().run, max_trials=n) == n
    trials: list[dict[str, Any]] = api.get(f"/v1/studies/{created['id']}/trials").json()["items"]
    return trials


def test_a_patient_pruner_shorter_than_early_stopping_is_warned_with_both_numbers() -> None:
    [warning] = _warnings(MLP)
    assert warning.startswith("pruner.patience: 1 is shorter than training.early_stopping")
    assert "patience 5" in warning and "after 2 epochs without improvement" in warning
    assert "give pruner.patience 5 or more, or pruner {type: none}" in warning
    assert len(_warnings(_with(pruner={"patience": 4}))) == 1
    assert _warnings(_with(pruner={"patience": 5})) == []  # early stopping stops first
    wrapped = {"type": "patient", "patience": 1, "wrapped": {"type": "median"}}
    assert _warnings(_with(pruner=wrapped)) == []  # the wrapped pruner decides
    [off] = _warnings(_with(training={"early_stopping": None}))
    assert off.startswith("pruner.patience: a patient pruner without a wrapped pruner")
    assert "training.early_stopping is null" in off


@pytest.mark.parametrize(
    ("pruner", "field"),
    [
        (
            {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 30},
            "pruner.n_warmup_steps: 30",
        ),
        ({"type": "percentile", "n_warmup_steps": 30}, "pruner.n_warmup_steps: 30"),
        ({"type": "threshold", "upper": 1.0, "n_warmup_steps": 30}, "pruner.n_warmup_steps"),
        ({"type": "successive_halving", "min_resource": 30}, "pruner.min_resource: 30"),
        ({"type": "hyperband", "min_resource": 30}, "pruner.min_resource: 30"),
        (
            {
                "type": "patient",
                "patience": 9,
                "wrapped": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 30},
            },
            "pruner.wrapped.n_warmup_steps: 30",
        ),
    ],
)
def test_a_pruner_that_decides_only_at_the_last_epoch_is_warned(
    pruner: dict[str, Any], field: str
) -> None:
    [warning] = _warnings(_with(pruner=pruner))
    assert warning.startswith(field), warning
    assert "the 30 epochs a trial reports (training.max_epochs)" in warning
    assert "saves no training" in warning and "well below 30" in warning


def test_a_late_first_rung_is_warned_with_the_rung_and_the_settings_that_make_it() -> None:
    """min_resource 4 is below 10 epochs, but ``min_early_stopping_rate: 1`` puts the first
    rung at 4 × 3¹ = 12: the warning blamed min_resource 4 and asked for it below 10."""
    late = {"type": "successive_halving", "min_resource": 4, "reduction_factor": 3}
    rate = late | {"min_early_stopping_rate": 1}
    [warning] = _warnings(_with(training={"max_epochs": 10}, pruner=rate))
    assert warning.startswith(
        "pruner.min_early_stopping_rate: 1 puts the successive_halving pruner's first rung at "
        "epoch 12 (min_resource 4 × reduction_factor 3 ^ min_early_stopping_rate 1), after "
        "the 10 epochs a trial reports (training.max_epochs), so it never prunes a trial"
    ), warning
    assert "well below 10" in warning and "min_early_stopping_rate 0 puts it at" in warning
    assert "pruner.min_resource" not in warning
    [both] = _warnings(_with(training={"max_epochs": 10}, pruner=rate | {"min_resource": 12}))
    assert both.startswith("pruner.min_resource: 12 puts the successive_halving pruner's first")
    assert "at epoch 36" in both
    assert _warnings(_with(training={"max_epochs": 13}, pruner=rate)) == []
    assert _warnings(_with(training={"max_epochs": 10}, pruner=late)) == []


def test_a_pruner_that_can_never_decide_is_warned_that_it_never_prunes() -> None:
    """A warm-up past a trial's last epoch was warned as deciding at the last one, where "a
    trial it prunes there ran to the end": it prunes none."""
    late = {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 50}
    [warning] = _warnings(_with(training={"max_epochs": 20}, pruner=late))
    assert warning == (
        "pruner.n_warmup_steps: 50 lets the median pruner decide from epoch 50 on, after the "
        "20 epochs a trial reports (training.max_epochs), so it never prunes a trial; give "
        "pruner.n_warmup_steps well below 20 (a few epochs), or pruner {type: none}"
    )
    [short] = _warnings(_with(training={"max_epochs": 4}, pruner=late))
    assert "after the 4 epochs" in short and "give pruner.n_warmup_steps at most 3," in short


def test_trials_too_short_for_the_default_pruner_are_told_what_prunes_them() -> None:
    """The default pruner's warm-up (2 epochs, 5 blocks) against trials as short or shorter:
    it was told to give n_warmup_steps "well below 1 (a few epochs)". One epoch: no pruner
    can save any, and the default one is not warned; more: the warm-up that decides in time."""
    no_pruner = {k: v for k, v in MLP.items() if k != "pruner"}
    no_pruner["budget"] = {"n_trials": 20}  # past the median pruner's 10 startup trials
    assert _warnings(no_pruner | {"training": {"max_epochs": 1}}) == []
    [two] = _warnings(no_pruner | {"training": {"max_epochs": 2}})
    assert two == (
        "pruner: the default pruner (median, n_warmup_steps 2) decides only at the last of the "
        "2 epochs a trial reports (training.max_epochs), so it saves no training, and a trial "
        "it prunes there ran to the end yet ends PRUNED, never the best trial; give pruner "
        "{n_warmup_steps: 1} for it to decide at epoch 1, or pruner {type: none}"
    )
    assert _warnings(no_pruner | {"training": {"max_epochs": 3}}) == []
    exact: dict[str, Any] = {
        "name": "enet",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "training": {"max_iter": 75, "report_every": 25, "lambda_path": None},
    }
    [blocks] = _warnings(exact)
    assert blocks.startswith(
        "pruner: the default pruner (median, n_warmup_steps 5) decides from block 5 on, after "
        "the 3 blocks of iterations a trial reports"
    ), blocks
    assert (
        "never prunes a trial; give pruner {n_warmup_steps: 2} for it to decide at block 2"
        in blocks
    )
    exact["training"]["max_iter"] = 25  # one block: nothing to save
    assert _warnings(exact) == []


def test_a_pruner_given_to_trials_of_one_epoch_is_told_none_can_prune_them() -> None:
    for pruner in (
        {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 1},
        {"type": "hyperband"},
    ):
        [warning] = _warnings(_with(training={"max_epochs": 1}, pruner=pruner))
        assert "the 1 epoch a trial reports" in warning, warning
        assert warning.endswith(
            "no pruner stops a trial of 1 epoch before its end: give pruner {type: none}"
        )


def test_pruner_advice_never_asks_for_less_than_an_epoch_and_counts_in_words() -> None:
    """Every warning over short trials and late pruners: no bound below 1, no "1 epochs"."""
    for epochs in range(1, 13):
        for first in range(0, 14):
            for pruner in (
                {"type": "median", "n_warmup_steps": first},
                {"type": "hyperband", "min_resource": max(1, first)},
                {"type": "successive_halving", "min_resource": 1, "min_early_stopping_rate": 2},
                {"type": "patient", "patience": first},
            ):
                for warning in _warnings(_with(training={"max_epochs": epochs}, pruner=pruner)):
                    assert "at most 0" not in warning and "below 1 " not in warning, warning
                    assert "well below" not in warning or epochs >= 10, warning
                    assert " 1 epochs" not in warning, warning


def test_pruners_that_can_decide_in_time_and_unpruned_paths_are_not_warned() -> None:
    assert _warnings(_with(pruner={"type": "median", "n_warmup_steps": 29})) == []
    assert _warnings(_with(pruner={"type": "successive_halving", "min_resource": 10})) == []
    assert _warnings(_with(pruner={"type": "none"})) == []
    linear = {
        "name": "enet",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "training": {"max_iter": 200, "report_every": 50},
        "pruner": {"type": "median", "n_warmup_steps": 4},
    }
    one_by_one = linear | {"training": {"max_iter": 200, "report_every": 50, "lambda_path": None}}
    [exact] = _warnings(one_by_one)
    assert "the 4 blocks of iterations a trial reports" in exact
    [unused] = _warnings(linear)  # a λ path's points are never pruned: not at its last epoch
    assert unused.startswith("pruner: λ paths run here")


LINEAR: dict[str, Any] = {
    "name": "enet",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-4, "high": 1.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    },
    "sampler": {"type": "tpe", "seed": 3},
    "budget": {"n_trials": 40, "max_parallel": 4},
}


@pytest.mark.parametrize(
    "pruner",
    [
        {"type": "hyperband", "min_resource": 5, "reduction_factor": 3},
        {"type": "successive_halving", "min_resource": 5},
        {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 1},
        {"type": "patient", "patience": 2},
    ],
)
def test_a_pruner_given_to_a_path_study_is_warned_as_never_asked(pruner: dict[str, Any]) -> None:
    [warning] = _warnings(LINEAR | {"pruner": pruner})
    assert warning.startswith("pruner: λ paths run here"), warning
    assert f"so the {pruner['type']} pruner is never asked" in warning
    assert "give training.lambda_path null" in warning
    assert _warnings(LINEAR) == []  # the default pruner, for lambda_path: null
    assert _warnings(LINEAR | {"pruner": {"type": "none"}}) == []
    one_by_one = LINEAR | {"pruner": pruner, "training": {"lambda_path": None}}
    assert not any(w.startswith("pruner: λ paths") for w in _warnings(one_by_one))


def test_a_path_study_runs_the_same_trials_with_a_pruner_as_without(api: TestClient) -> None:
    """Run: what the unused-pruner warning says, a path study given hyperband prunes no trial
    and runs the trials it runs without a pruner (same seed)."""

    def run(name: str, pruner: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        created = api.post("/v1/studies", json=LINEAR | {"name": name, "pruner": pruner})
        assert created.status_code == 201, created.text
        assert run_to_the_end(api, created.json()["id"])["status"] == "completed"
        items = api.get(f"/v1/studies/{created.json()['id']}/trials").json()["items"]
        return [(t["state"], t["params"]) for t in items]

    hyperband = {"type": "hyperband", "min_resource": 1, "reduction_factor": 3}
    pruned, plain = run("hyperband", hyperband), run("plain", {"type": "none"})
    assert len(pruned) == 40 and {state for state, _ in pruned} == {"COMPLETE"}
    assert pruned == plain


@pytest.mark.parametrize(
    ("space", "named"),
    [
        ({"l1_ratio": {"choices": [0.0, 0.5, 1.0]}}, "search_space.l1_ratio"),
        ({"batch_size": {"choices": [32, 128]}}, "search_space.batch_size"),
        ({"hidden_layers": {"choices": [[16], [32, 16]]}}, "search_space.hidden_layers"),
    ],
)
def test_cmaes_over_choices_is_warned_that_it_draws_them_at_random(
    space: dict[str, Any], named: str
) -> None:
    cmaes = _with(
        sampler={"type": "cmaes", "seed": 1},
        pruner={"type": "none"},
        search_space={**MLP["search_space"], **space},
    )
    if "hidden_layers" in space:
        cmaes["model"] = {"kind": "mlp"}
    [warning] = _warnings(cmaes)
    assert warning.startswith(f"sampler.type: cmaes samples only ranges; {named} (choices)")
    assert "give sampler {type: tpe} (or gp)" in warning
    assert _warnings(cmaes | {"sampler": {"type": "tpe", "seed": 1}}) == []
    ranges = _with(sampler={"type": "cmaes"}, pruner={"type": "none"})
    assert _warnings(ranges) == []
    one_choice = {**MLP["search_space"], "l1_ratio": {"choices": [0.5]}}
    assert _warnings(ranges | {"search_space": one_choice}) == []


def test_the_warnings_come_with_the_201_and_stay_with_the_study(api: TestClient) -> None:
    created = api.post("/v1/studies", json=MLP)
    assert created.status_code == 201, created.text
    assert created.json()["warnings"] == _warnings(MLP)
    assert api.get(created.headers["Location"]).json()["warnings"] == _warnings(MLP)
    plain = api.post("/v1/studies", json=_with(name="quiet", pruner={"patience": 5}))
    assert plain.status_code == 201 and plain.json()["warnings"] == []
    with regtune.Client("http://testserver", transport=ThroughApp(api)) as rt:
        assert rt.study(created.json()["id"]).warnings == _warnings(MLP)
        assert rt.submit(_with(name="by-client")).warnings == _warnings(MLP)


def test_submit_says_the_warnings_on_stderr_and_succeeds(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    definition = tmp_path / "plateaus.yaml"
    definition.write_text(yaml.safe_dump(MLP))
    result = cli_result(api, monkeypatch, "submit", str(definition))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stdout
    assert result.stderr.splitlines() == [f"warning: {w}" for w in _warnings(MLP)]
    definition.write_text(yaml.safe_dump(_with(name="plateaus-json")))
    as_json = cli_result(api, monkeypatch, "submit", str(definition), "--json")
    assert as_json.exit_code == 0 and as_json.stdout.lstrip().startswith("{"), as_json.output
    assert as_json.stderr.startswith("warning: pruner.patience: 1")
    study_id = next(line for line in result.stdout.split() if len(line) == 16)
    shown = cli_result(api, monkeypatch, "show", study_id)
    assert f"warning: {_warnings(MLP)[0]}" in shown.stdout


def test_the_trials_a_short_patience_prunes_are_those_early_stopping_completes(
    api: TestClient,
) -> None:
    """Run: the trials a patient pruner shorter than early stopping prunes are completed by the
    same study whose pruner is as patient as early stopping (same seed, same parameters). The
    last-epoch rule's runs are in ``advice._late_decision``'s docstring."""
    short = _run(api, _with(name="short"))
    patient = _run(api, _with(name="patient", pruner={"patience": 5}))
    pruned = [t["number"] for t in short if t["state"] == "PRUNED"]
    assert pruned, short
    assert [t["params"] for t in short] == [t["params"] for t in patient]
    assert all(patient[n]["state"] == "COMPLETE" for n in pruned), patient


R2 = {"objective": {"metric": "val_r2"}}


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        (_with(pruner={"type": "threshold", "lower": 0.3}), "pruner.lower: "),
        (
            _with(pruner={"type": "threshold", "upper": 0.4}) | R2,
            "pruner.upper: ",
        ),
        (
            _with(pruner={"type": "patient", "patience": 9, "wrapped": {"type": "threshold",
                                                                        "lower": 0.3}}),
            "pruner.wrapped.lower: ",
        ),
    ],
)  # fmt: skip
def test_a_threshold_on_the_good_side_of_the_metric_is_warned(
    definition: dict[str, Any], field: str
) -> None:
    """``lower`` on a minimized metric, ``upper`` on a maximized one: the bound prunes the
    trials doing best; the other bound (or both given) prunes the worst, as meant."""
    [warning] = _warnings(definition)
    assert warning.startswith(field), warning
    assert "it prunes the trials doing best" in warning
    assert "can never be the best trial" in warning
    other = "upper" if "lower" in field else "lower"
    assert f"give {field.split(':')[0].rsplit('.', 1)[0]}.{other} instead" in warning
    assert _warnings(_with(pruner={"type": "threshold", "upper": 1.0})) == []
    maximized = _with(pruner={"type": "threshold", "lower": 0.1}) | R2
    assert _warnings(maximized) == []


def test_the_trials_a_lower_threshold_prunes_on_a_loss_are_the_best(api: TestClient) -> None:
    """Run: a threshold ``lower`` on val_loss prunes the study's best trial (same seed, same
    parameters as without a pruner), and the best trial left is a worse one."""
    plain = _run(api, _with(name="unpruned", pruner={"type": "none"}))
    best = min(plain, key=lambda t: t["value"])
    lower = {"type": "threshold", "lower": best["value"] + 1e-4}
    threshold = _run(api, _with(name="threshold", pruner=lower))
    assert [t["params"] for t in threshold] == [t["params"] for t in plain]
    assert threshold[best["number"]]["state"] == "PRUNED", threshold
    kept = [t["value"] for t in threshold if t["state"] == "COMPLETE"]
    assert kept and min(kept) > best["value"]


ONE_SE = {"objective": {"select": "one_se"}, "validation": {"folds": 5}, "pruner": {"type": "none"}}
LAMBDA_CHOICES = {"search_space": {**LINEAR["search_space"], "lambda": {"choices": [0.01, 0.1]}}}


@pytest.mark.parametrize(
    ("definition", "why", "ranged"),
    [
        (MLP | ONE_SE, "λ paths need the exact solver, got training.solver minibatch",
         "search_space.learning_rate"),
        (LINEAR | ONE_SE | {"training": {"lambda_path": None}}, "training.lambda_path is null",
         "search_space.l1_ratio"),
        (LINEAR | ONE_SE | LAMBDA_CHOICES,
         "λ paths need search_space.lambda to be a range {low, high}", "search_space.l1_ratio"),
    ],
    ids=["mlp", "paths off", "lambda choices"],
)  # fmt: skip
def test_one_se_without_a_lambda_path_is_warned_that_it_keeps_the_best_trial(
    api: TestClient, definition: dict[str, Any], why: str, ranged: str
) -> None:
    """one_se looks for a larger λ among the trials at the best trial's other parameters: with
    no λ path and another knob a continuous range, no trial shares them, and it keeps the best
    (accepted without a word before)."""
    [warning] = _warnings(definition)
    assert warning.startswith(
        "objective.select: one_se keeps the best trial here: it takes a larger λ only among the "
        "trials at the best trial's other parameters (its λ path), and this study has no λ path "
        f"({why}) while {ranged} (a continuous range) gives every trial values of its own"
    ), warning
    assert "give a linear model with the exact solver, search_space.lambda a range" in warning
    assert f"or fix {ranged} (every trial is then on the best's path)" in warning
    created = api.post("/v1/studies", json=definition)  # a linear regression's relax searched
    assert created.status_code == 201, created.text
    [stored] = created.json()["warnings"]
    assert stored.startswith(warning.split(" while ")[0]), stored


def test_one_se_where_trials_share_the_other_parameters_is_not_warned() -> None:
    """With λ paths, or λ the only knob searched (every trial at the same other parameters),
    or the others as choices or stepped ranges (trials share them), one_se can move."""
    assert _warnings(LINEAR | ONE_SE) == []
    space = MLP["search_space"]
    alone = MLP | ONE_SE | {"search_space": {**space, "learning_rate": 0.01}}
    assert _warnings(alone) == []
    choices = {**space, "learning_rate": {"choices": [0.01, 0.1]}}
    assert _warnings(MLP | ONE_SE | {"search_space": choices}) == []
    stepped = {**choices, "dropout": {"low": 0.0, "high": 0.5, "step": 0.25}}
    assert _warnings(MLP | ONE_SE | {"search_space": stepped}) == []


def test_a_deterministic_study_with_nothing_searched_is_warned_that_its_trials_repeat(
    api: TestClient,
) -> None:
    """Every knob fixed under the exact solver: each trial trains the same weights (accepted
    without a word before, the budget spent on copies)."""
    fixed = LINEAR | {"search_space": {"lambda": 0.05, "l1_ratio": 1.0}, "name": "fixed"}
    created = api.post("/v1/studies", json=fixed | {"budget": {"n_trials": 2}})
    assert created.status_code == 201, created.text
    assert created.json()["warnings"] == [
        "search_space: every knob is fixed and the exact solver is deterministic, so all 2 "
        "trials train the same model to the same weights; give one knob a range or choices "
        "(search_space.lambda {low, high}, say), or budget.n_trials 1"
    ]
    one = api.post("/v1/studies", json=fixed | {"name": "one", "budget": {"n_trials": 1}})
    assert one.json()["warnings"] == []
    seeded = MLP | {"search_space": {"lambda": 0.01, "l1_ratio": 0.0}, "name": "seeded"}
    said = api.post("/v1/studies", json=seeded | {"pruner": {"type": "none"}}).json()
    assert said["warnings"] == []  # the minibatch trainer's trials differ by their seeds


def test_a_budget_too_small_for_the_pruner_to_start_is_not_warned_of_its_warm_up() -> None:
    """The default median pruner prunes nothing before its 10th trial: a study of 2 trials of 2
    epochs was told to give n_warmup_steps 1, which would change nothing."""
    no_pruner = {k: v for k, v in MLP.items() if k != "pruner"}
    short = no_pruner | {"training": {"max_epochs": 2}}
    assert _warnings(short | {"budget": {"n_trials": 2}}) == []
    assert _warnings(short | {"budget": {"n_trials": 10}}) == []
    [warned] = _warnings(short | {"budget": {"n_trials": 11}})
    assert warned.startswith("pruner: the default pruner (median, n_warmup_steps 2)"), warned


QUIET = _with(name="quiet", pruner={"type": "none"})
"""The MLP study without its pruner's warning."""


def test_the_exact_solver_s_settings_in_an_mlp_study_are_warned_as_never_read(
    api: TestClient,
) -> None:
    """``report_every: 5``, ``max_iter: 5, tol: 0.5`` in an MLP study were taken without a word
    (201, ``warnings: []``), stored as given and never read: the minibatch trainer runs
    ``max_epochs`` epochs and reports each. Their defaults, which every stored definition
    shows, are not warned."""
    assert _warnings(QUIET) == []
    every = _with(name="every", pruner={"type": "none"}, training={"report_every": 5})
    assert _warnings(every) == [
        "training.report_every: the exact solver's setting, which the minibatch trainer this "
        "study trains with (training.solver minibatch) does not read: it runs "
        "training.max_epochs (30) epochs and reports each; leave it out"
    ]
    short = _with(name="short", pruner={"type": "none"}, training={"max_iter": 5, "tol": 0.5})
    created = api.post("/v1/studies", json=short)
    assert created.status_code == 201, created.text
    [warning] = created.json()["warnings"]
    assert warning.startswith("training.tol, training.max_iter: the exact solver's settings, ")
    assert warning.endswith("; leave them out"), warning
    assert api.get(created.headers["Location"]).json()["warnings"] == [warning]
    defaults = {"tol": 1e-6, "max_iter": 10_000, "report_every": 25}
    assert _warnings(_with(pruner={"type": "none"}, training=defaults)) == []
    linear = LINEAR | {"training": {"solver": "minibatch", "tol": 1e-4}}
    [said] = _warnings(linear)
    assert said.endswith("; leave it out, or give training.solver exact to use it"), said


def test_momentum_with_adam_is_warned_as_sgd_s(api: TestClient) -> None:
    """``optimizer: adam, momentum: 0.9``: a 201 without a word, and momentum reached SGD
    alone (``minibatch._optimizer``, ``stacked``)."""
    adam = _with(pruner={"type": "none"}, training={"optimizer": "adam", "momentum": 0.9})
    created = api.post("/v1/studies", json=adam)
    assert created.status_code == 201, created.text
    assert created.json()["warnings"] == [
        "training.momentum: 0.9 is SGD's, which optimizer adam does not read (Adam keeps its "
        "own running averages of the gradient); give training.optimizer sgd to use it, or "
        "leave it out"
    ]
    sgd = _with(pruner={"type": "none"}, training={"optimizer": "sgd", "momentum": 0.9})
    assert _warnings(sgd) == []
    assert _warnings(_with(pruner={"type": "none"}, training={"momentum": 0.0})) == []


def test_the_minibatch_trainer_s_settings_under_the_exact_solver_are_warned_as_never_read() -> None:
    """``max_epochs``, ``optimizer``, ``seed`` under the exact solver were taken without a word:
    it solves full-batch, deterministically, to ``tol``, without early stopping. A batch size
    ``full`` and early stopping ``null`` say what it does anyway."""
    given = {"max_epochs": 5, "optimizer": "sgd", "momentum": 0.5, "seed": 3}
    [warning] = _warnings(LINEAR | {"training": given})
    assert warning == (
        "training.max_epochs, training.optimizer, training.momentum, training.seed: the "
        "minibatch trainer's settings, which the exact solver this study trains with "
        "(training.solver exact) does not read: it solves each fold full-batch and "
        "deterministically to training.tol within training.max_iter iterations, without early "
        "stopping; leave them out, or give training.solver minibatch to use them"
    )
    stopping = {"early_stopping": {"patience": 2}, "batch_size": 32}
    [both] = _warnings(LINEAR | {"training": stopping})
    assert both.startswith("training.batch_size, training.early_stopping: the minibatch"), both
    agreeing = {"batch_size": "full", "early_stopping": None, "max_epochs": 50}
    assert _warnings(LINEAR | {"training": agreeing}) == []
