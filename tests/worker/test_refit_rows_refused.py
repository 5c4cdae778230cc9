"""``refit_rows: all`` (the default) when the refit on every row is refused: the refit on the
non-test rows, which measured the test metrics, is saved, and ``best_model.note`` says so and
why. An MLP on diabetes at dropout 0.99 for 10 epochs: the refit on the 353 non-test rows fits
them better than their mean does (loss 0.489 against 0.5), the one on all 442 rows does not
(0.502)."""

from __future__ import annotations

import optuna

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.best_model import save_best_model
from regtune.worker.objective import make_objective
from tests.inprocess import Apps

optuna.logging.set_verbosity(optuna.logging.WARNING)

DEFINITION = {
    "name": "r-drop",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [16]},
    "search_space": {"lambda": 3.7e-4, "l1_ratio": 0.02, "dropout": 0.99},
    "training": {"max_epochs": 10},
    "sampler": {"type": "random", "seed": 0},
    "budget": {"n_trials": 1},
}


def test_a_refused_refit_on_every_row_saves_the_measured_refit_and_says_why(apps: Apps) -> None:
    # no sweep of the app's meanwhile: its trial ran outside a claim, so a sweep could end the
    # study while the refit trains, and the refit then publishes nothing (a study extended)
    api = apps(sweep_interval=3600)
    created = api.post("/v1/studies", json=DEFINITION)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["definition"]["refit_rows"] == "all"
    spec = resolve_task(StudySpec.from_stored(body["definition"]))
    study = optuna.load_study(study_name=body["optuna_study_name"], storage=get_storage())
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=1)

    record = save_best_model(body["id"])
    assert record is not None
    assert (record["refit"], record["refit_rows"], record["train_rows"]) == (True, "non_test", 353)
    model = api.get(f"/v1/studies/{body['id']}").json()["best_model"]
    assert model["refit_rows"] == "non_test"
    note = model["note"]
    assert note is not None, model
    assert note.startswith(
        "the refit on every row (refit_rows: all) fits its own training rows worse than their "
        "mean does (loss "
    ), note
    assert note.endswith(
        "the refit on the non-test rows, which measured the test metrics, is saved instead"
    ), note
