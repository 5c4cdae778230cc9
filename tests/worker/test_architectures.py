"""A searched MLP architecture (``search_space.hidden_layers``), end to end with a real worker on
SQLite: every trial trains the architecture its parameter names, fused passes of mixed
architectures included; the parameter is an Optuna category over readable labels; the best
model is saved and predicts with the best trial's architecture; the report draws it."""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import CategoricalDistribution

from regtune.service.model import saved
from regtune.service.settings import get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.service.spec.space import layers_label
from regtune.service.store.scheduling.retries import queue_retry
from regtune.worker import data, modelfile
from regtune.worker.objective import train_config
from regtune.worker.policies import make_sampler
from regtune.worker.search import suggest
from tests.inprocess import Apps, cli_output, run_to_the_end

ARCHITECTURES = [[8], [16, 8], [24]]
LABELS = ["8", "16-8", "24"]
DIGITS_IN, DIGITS_OUT = 64, 10


def weights_of(label: str) -> int:
    """Penalized weights (``n_weights``) of a digits MLP with these hidden layers."""
    widths = [DIGITS_IN, *(int(units) for units in label.split("-")), DIGITS_OUT]
    return sum(a * b for a, b in itertools.pairwise(widths))


def study(name: str, *, sampler: dict[str, Any], n_trials: int, fused: int) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "digits"},
        "model": {"kind": "mlp"},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 1e-2, "log": True},
            "l1_ratio": 0.5,
            "dropout": {"choices": [0.0, 0.2]},
            "learning_rate": 1e-2,
            "hidden_layers": {"choices": ARCHITECTURES},
        },
        "training": {"max_epochs": 3, "early_stopping": None, "fused_trials": fused},
        "sampler": sampler,
        "pruner": {"type": "none"},
        "budget": {"n_trials": n_trials, "max_parallel": fused},
    }


def test_a_fused_pass_of_mixed_architectures_trains_each_trial_its_own(
    apps: Apps, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The grid walks the 3 architectures × 2 dropouts in 6 trials, fused 6 to a pass: each
    member trains the shape its parameter names (its weight count says so), the best model file
    holds the best trial's layers, and predicting with it works, with numpy and with torch."""
    api: TestClient = apps()
    grid = study("grid-layers", sampler={"type": "grid", "seed": 0}, n_trials=6, fused=6)
    grid["search_space"]["lambda"] = 1e-4
    created = api.post("/v1/studies", json=grid)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["definition"]["model"]["hidden_layers"] is None  # said once, where searched
    assert body["definition"]["search_space"]["hidden_layers"] == {"choices": ARCHITECTURES}

    with caplog.at_level(logging.INFO, logger="regtune.worker.fused"):
        done = run_to_the_end(api, body["id"])

    assert done["status"] == "completed" and done["progress"]["done"] == 6, done
    assert len([r for r in caplog.records if "started (fused)" in r.getMessage()]) == 6
    trials = api.get(f"/v1/studies/{body['id']}/trials", params={"limit": 50}).json()["items"]
    seen = sorted((t["params"]["hidden_layers"], t["params"]["dropout"]) for t in trials)
    assert seen == sorted((label, d) for label in LABELS for d in (0.0, 0.2))  # the whole grid
    for listed in trials:
        trial = api.get(f"/v1/studies/{body['id']}/trials/{listed['number']}").json()
        assert trial["state"] == "COMPLETE", trial
        assert trial["user_attrs"]["n_weights"] == weights_of(trial["params"]["hidden_layers"])

    best = done["best_trial"]["params"]["hidden_layers"]
    path = tmp_path / "best.safetensors"
    path.write_bytes(api.get(f"/v1/studies/{body['id']}/best-model").content)
    stored = saved.read_file(path)
    assert stored.architecture["hidden_layers"] == [int(u) for u in best.split("-")]
    digits = data.load({"builtin": "digits"})
    numpy_model, torch_model = saved.load(path), modelfile.load(path)
    predicted = numpy_model.predict(digits.X)
    assert predicted["prediction"].shape == (len(digits.y),)
    assert set(np.unique(predicted["prediction"])) <= set(range(DIGITS_OUT))
    assert np.array_equal(predicted["prediction"], torch_model.predict(digits.X)["prediction"])


def test_tpe_learns_over_the_architectures_as_one_optuna_category(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trials of a TPE study store the architecture as its label under a categorical
    distribution (what optuna-dashboard and Optuna's samplers read); the report draws it among
    the importances and names it in the best trial's line, as ``regtune best`` and ``show`` do."""
    from regtune.worker.loop import Worker

    api: TestClient = apps()
    tpe = {"type": "tpe", "seed": 0, "n_startup_trials": 3, "multivariate": True}
    created = api.post("/v1/studies", json=study("tpe-layers", sampler=tpe, n_trials=8, fused=4))
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    assert contextvars.copy_context().run(Worker().run, max_trials=8) == 8

    name = api.get(f"/v1/studies/{study_id}").json()["optuna_study_name"]
    theirs = optuna.load_study(study_name=name, storage=get_settings().database_url)
    assert len(theirs.trials) == 8
    for trial in theirs.trials:
        assert trial.distributions["hidden_layers"] == CategoricalDistribution(LABELS)
        assert trial.params["hidden_layers"] in LABELS
        assert trial.user_attrs["n_weights"] == weights_of(trial.params["hidden_layers"])
    best = theirs.best_trial.params["hidden_layers"]
    assert api.get(f"/v1/studies/{study_id}").json()["best_trial"]["params"]["hidden_layers"] == (
        best
    )

    page = api.get(f"/v1/studies/{study_id}/report")
    assert page.status_code == 200, page.text
    assert f"hidden_layers = {best}" in page.text  # the best trial's line, as a label
    assert "Parameter importances" in page.text
    assert re.search(r'"y":\[[^\]]*"hidden_layers"[^\]]*\],"type":"bar"', page.text)
    for command in ("best", "show"):
        assert f"hidden_layers={best}" in cli_output(api, monkeypatch, command, study_id)


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid", "gp", "cmaes", "nsgaii", "qmc"])
def test_every_sampler_chooses_among_the_architectures(sampler: str) -> None:
    """Each trial's training config has the architecture its parameter names."""
    body = study("samplers", sampler={"type": sampler, "seed": 0}, n_trials=6, fused=1)
    body["search_space"] |= {"lambda": 1e-3}
    spec = resolve_task(StudySpec.model_validate(body))
    theirs = optuna.create_study(sampler=make_sampler(spec))

    def objective(trial: optuna.Trial) -> float:
        config = train_config(spec, suggest(trial, spec), n_out=DIGITS_OUT)
        assert layers_label(config.hidden_layers) == trial.params["hidden_layers"]
        return float(sum(config.hidden_layers))

    with warnings.catch_warnings():  # cmaes and qmc sample a category independently, and say so
        warnings.simplefilter("ignore")
        theirs.optimize(objective, n_trials=6)
    assert {t.params["hidden_layers"] for t in theirs.trials} <= set(LABELS)
    if sampler == "grid":  # the grid's architecture × dropout points, each once
        assert len({tuple(t.params.values()) for t in theirs.trials}) == 6


def test_a_retried_trial_trains_the_architecture_it_failed_with(tmp_path: Path) -> None:
    """A trial handed back or swept is queued again with its parameters (Optuna's retry): its
    retry suggests the same architecture label and trains that shape."""
    body = study("retry", sampler={"type": "random", "seed": 0}, n_trials=4, fused=1)
    spec = resolve_task(StudySpec.model_validate(body))
    theirs = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    first = theirs.ask()
    values = suggest(first, spec)
    theirs.tell(first, state=optuna.trial.TrialState.FAIL)

    queue_retry(theirs, theirs.trials[0], max_retry=None)
    again = theirs.ask()

    assert again.number == 1 and suggest(again, spec) == values
    assert again.params["hidden_layers"] == first.params["hidden_layers"]
    assert train_config(spec, values, n_out=DIGITS_OUT).hidden_layers == spec.hidden_layers(values)
