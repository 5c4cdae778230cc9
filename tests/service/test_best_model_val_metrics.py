"""``best_model.val_metrics`` says whose they are: a refit trained on the validation rows too, so
it has none of its own and its ``val_metrics`` are the best trial's validation metrics. Nothing
was said of the field, as its siblings have their descriptions, so it read as the saved model's
own validation score."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.inprocess import run_to_the_end
from tests.service.test_rest_contract import definition


def test_a_refits_val_metrics_are_the_best_trials_and_the_schema_says_so(
    api: TestClient,
) -> None:
    study = run_to_the_end(api, api.post("/v1/studies", json=definition("val", 3)).json()["id"])
    model, best = study["best_model"], study["best_trial"]
    assert model["refit"] is True and model["trial"] == best["number"], model
    trials = {
        name.removeprefix("val_"): value
        for name, value in best["user_attrs"].items()
        if name.startswith("val_") and name != "val_curve"
    }
    assert model["val_metrics"] == trials, (model, best["user_attrs"])

    schema = api.get("/openapi.json").json()["components"]["schemas"]["BestModel"]
    said = schema["properties"]["val_metrics"].get("description", "")
    assert "the best trial's validation metrics" in said.lower(), schema
    assert "no validation rows of its own" in said, said
