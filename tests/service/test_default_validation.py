"""The default validation (5 folds for the exact solver on small data, a holdout otherwise) is
decided when a study is created, stored with the reason and shown; ``objective.select: one_se``
is refused, naming the field, wherever it cannot apply."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.validation import FOLDS_MAX_CELLS
from tests.inprocess import cli_output
from tests.service.test_admission import assert_refused


def linear(name: str, **parts: Any) -> dict[str, Any]:
    return {"name": name, "dataset": {"builtin": "diabetes"}, "model": {"kind": "linear"}, **parts}


def created(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/studies", json=body)
    assert response.status_code == 201, response.text
    study: dict[str, Any] = response.json()
    assert api.get(f"/v1/studies/{study['id']}").json()["validation"] == study["validation"]
    return study


def uploaded(api: TestClient, frame: pd.DataFrame, name: str, *, target: str) -> dict[str, str]:
    """The dataset of ``frame`` uploaded as ``NAME.csv``: a definition's ``dataset``."""
    answer = api.post(
        "/v1/datasets",
        files={"file": (f"{name}.csv", frame.to_csv(index=False).encode())},
        data={"target": target},
    )
    assert answer.status_code == 201, answer.text
    return {"id": answer.json()["id"]}


def test_small_data_under_the_exact_solver_gets_five_folds(api: TestClient) -> None:
    study = created(api, linear("small"))
    stored = StudySpec.from_stored(study["definition"]).validation
    assert (stored.folds, stored.holdout) == (5, None)
    assert study["validation"]["scheme"] == "5-fold"
    assert study["validation"]["chosen_by"].startswith("default (5-fold): exact solver, 442 rows")
    assert study["selection"] == {"rule": "best", "note": None}


def test_large_data_and_the_minibatch_trainer_get_a_holdout(api: TestClient) -> None:
    rows = FOLDS_MAX_CELLS // 10 + 1  # ten features: just over the rule
    large = linear("large", dataset={"synthetic": {"kind": "sparse_regression", "n_samples": rows}})
    large["dataset"]["synthetic"]["n_features"] = 10
    study = created(api, large)
    assert study["validation"]["scheme"] == "holdout 0.2"
    assert "> 1,000,000" in study["validation"]["chosen_by"]
    under = linear("under", dataset={"synthetic": {"kind": "sparse_regression"}})
    under["dataset"]["synthetic"].update(n_samples=rows - 1, n_features=10)
    assert created(api, under)["validation"]["scheme"] == "5-fold"
    mlp = created(
        api, {"name": "mlp", "dataset": {"builtin": "diabetes"}, "model": {"kind": "mlp"}}
    )
    assert mlp["validation"] == {
        "scheme": "holdout 0.2",
        "chosen_by": "default (holdout 0.2): minibatch trainer",
    }


def test_a_given_scheme_is_kept_and_said_to_be_given(api: TestClient) -> None:
    study = created(api, linear("given", validation={"holdout": 0.3}))
    assert study["validation"] == {"scheme": "holdout 0.3", "chosen_by": "definition"}
    # a stored definition sent again keeps its scheme, now given by the definition
    default = created(api, linear("default"))["definition"]
    again = created(api, dict(default, name="again"))
    assert again["validation"] == {"scheme": "5-fold", "chosen_by": "definition"}


def test_an_upload_under_folds_holds_no_test_split_unless_asked(api: TestClient) -> None:
    """An upload is the user's training file: every row in the folds, as in scikit-learn's
    ``*CV`` estimators; a given test fraction, a holdout and ``refit_rows: non_test`` keep one."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "y"])
    upload = uploaded(api, frame, "t", target="y")

    def test_fraction(name: str, **parts: Any) -> tuple[float, str]:
        study = created(api, linear(name, dataset=upload, **parts))
        validation = StudySpec.from_stored(study["definition"]).validation
        assert study["validation"]["chosen_by"] == validation.chosen_by
        return validation.test_fraction, study["validation"]["chosen_by"]

    fraction, why = test_fraction("default")
    assert fraction == 0.0
    assert why.startswith("default (5-fold): exact solver, 300 rows")
    assert why.endswith(
        "no test split: an upload is the training rows, all of them in the "
        "folds (give validation.test_fraction to hold some out)"
    )
    assert test_fraction("folds", validation={"folds": 3})[0] == 0.0
    assert test_fraction("asked", validation={"test_fraction": 0.25})[0] == 0.25
    assert test_fraction("holdout", validation={"holdout": 0.2}) == (0.2, "definition")
    assert test_fraction("non-test", refit_rows="non_test")[0] == 0.2
    mlp = created(api, {"name": "mlp", "dataset": upload, "model": {"kind": "mlp"}})
    assert StudySpec.from_stored(mlp["definition"]).validation.test_fraction == 0.2
    # a builtin dataset keeps its test split (bench.quality scores on it)
    builtin = created(api, linear("builtin"))
    assert StudySpec.from_stored(builtin["definition"]).validation.test_fraction == 0.2


def test_too_many_folds_for_an_upload_without_a_test_split_says_so(api: TestClient) -> None:
    """The 422 for folds a class cannot fill speaks of the test split only where there is one:
    an upload under folds has none by default."""
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 2)), columns=["a", "b"])
    frame["label"] = ["no"] * 16 + ["yes"] * 4
    upload = uploaded(api, frame, "four", target="label")
    response = api.post("/v1/studies", json=linear("five", dataset=upload, validation={"folds": 5}))
    assert_refused(api, response, 422, "validation.folds")
    [problem] = response.json()["error"]["fields"]
    assert problem["rule"] == (
        "5 stratified folds need at least 5 rows of every class; the smallest class has 4 rows "
        "(no test split: validation.test_fraction 0): use at most 4 folds or a holdout"
    )
    kept = linear("kept", dataset=upload, validation={"folds": 5, "test_fraction": 0.2})
    response = api.post("/v1/studies", json=kept)
    assert_refused(api, response, 422, "validation.folds")
    assert "about 3 of them are left after it" in response.json()["error"]["fields"][0]["rule"]


def test_folds_a_rare_class_cannot_fill_get_advice_that_is_accepted(api: TestClient) -> None:
    """A class of one row fits no folds, one of two rows fits 2 only without a test split: the
    422 says so (was: "the smallest class has 1 rows ...: use at most 2 folds", the folds it had
    just refused), and what it suggests is accepted; the default's reason names the class (was:
    "too few rows for 5 folds" of 30 rows)."""
    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(30, 2)), columns=["a", "b"])
    frame["label"] = ["no"] * 20 + ["yes"] * 9 + ["maybe"]
    solo = uploaded(api, frame, "solo", target="label")
    response = api.post("/v1/studies", json=linear("solo", dataset=solo, validation={"folds": 2}))
    assert_refused(api, response, 422, "validation.folds")
    [problem] = response.json()["error"]["fields"]
    assert problem["rule"] == (
        "2 stratified folds need at least 2 rows of every class; the smallest class has 1 row "
        "(no test split: validation.test_fraction 0): no number of folds can hold it in every "
        "fold: use a holdout"
    )

    frame["label"] = ["no"] * 20 + ["yes"] * 8 + ["maybe"] * 2
    pair = uploaded(api, frame, "pair", target="label")
    tested = {"folds": 2, "test_fraction": 0.2}
    response = api.post("/v1/studies", json=linear("pair", dataset=pair, validation=tested))
    assert_refused(api, response, 422, "validation.folds")
    assert response.json()["error"]["fields"][0]["rule"].endswith(
        "the smallest class has 2 rows and about 1 of them are left after it: use a holdout, or "
        "no test split (validation.test_fraction 0) and at most 2 folds"
    )
    created(api, linear("solo-holdout", dataset=solo, validation={"holdout": 0.2}))
    default = created(api, linear("solo-default", dataset=solo))["validation"]
    assert default["chosen_by"] == (
        "default (holdout 0.2): too few rows of the smallest class (1) for 5 folds; a class of "
        "fewer than 3 rows (the smallest has 1) is too few to split by class: every trial "
        "trains on its rows and none is a validation or test row, so the validation and test "
        "scores say nothing of it"
    )
    untested = {"folds": 2, "test_fraction": 0}
    created(api, linear("pair-folds", dataset=pair, validation=untested))


def test_one_se_defaults_to_folds_whatever_the_size(api: TestClient) -> None:
    body = linear("one-se", objective={"select": "one_se"})
    body["dataset"] = {"synthetic": {"kind": "sparse_regression", "n_samples": 200_000}}
    study = created(api, body)
    assert study["validation"]["scheme"] == "5-fold"
    assert study["selection"]["rule"] == "one_se"


@pytest.mark.parametrize(
    "changes",
    [
        {"objective": {"select": "lambda_1se"}},
        {"objective": {"select": "one_se"}, "validation": {"holdout": 0.2}},
        {"objective": {"select": "one_se"}, "search_space": {"lambda": 0.1}},
        {"objective": {"select": "one_se"}, "objectives": ["val_loss", "n_nonzero"]},
    ],
    ids=["unknown", "holdout", "fixed-lambda", "several-objectives"],
)
def test_one_se_where_it_cannot_apply_is_refused(api: TestClient, changes: dict[str, Any]) -> None:
    response = api.post("/v1/studies", json=linear("refused", **changes))
    assert_refused(api, response, 422, "objective.select")


def test_one_se_on_too_few_rows_for_folds_is_refused(api: TestClient) -> None:
    body = linear("tiny", objective={"select": "one_se"})
    body["dataset"] = {"synthetic": {"kind": "classification", "n_samples": 20, "n_classes": 5}}
    response = api.post("/v1/studies", json=body)
    assert_refused(api, response, 422, "objective.select")


def test_one_se_refused_for_an_uploads_test_split_names_the_test_split(api: TestClient) -> None:
    """An upload whose smallest class fills 5 folds only without a test split: one_se is
    admitted by default, and where a test split is kept the 422 says that split is why."""
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(24, 2)), columns=["a", "b"])
    frame["label"] = ["no"] * 18 + ["yes"] * 6
    upload = uploaded(api, frame, "six", target="label")
    one_se = {"select": "one_se"}
    for kept in ({"refit_rows": "non_test"}, {"validation": {"test_fraction": 0.2}}):
        response = api.post(
            "/v1/studies", json=linear("kept", dataset=upload, objective=one_se, **kept)
        )
        assert_refused(api, response, 422, "objective.select")
        [problem] = response.json()["error"]["fields"]
        assert problem["rule"].endswith(
            "for 5 of them after the test split (validation.test_fraction 0.2)"
        ), problem
    # a class too small for folds however the rows are split: no test split is blamed (was:
    # "after the test split (validation.test_fraction 0.2)", which folds of an upload lack)
    frame["label"] = ["no"] * 21 + ["yes"] * 3
    three = uploaded(api, frame, "three", target="label")
    response = api.post("/v1/studies", json=linear("three", dataset=three, objective=one_se))
    assert_refused(api, response, 422, "objective.select")
    assert response.json()["error"]["fields"][0]["rule"] == (
        "one_se needs folds, and the data (24 rows, 3 in its smallest class) has too few rows (of "
        "its smallest class) for 5 of them"
    )
    study = created(api, linear("default", dataset=upload, objective=one_se))
    assert study["validation"]["scheme"] == "5-fold"


def test_regtune_show_says_which_validation_ran_and_how_the_best_is_chosen(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = created(api, linear("shown", objective={"select": "one_se"}))
    text = cli_output(api, monkeypatch, "show", study["id"])
    assert "validation: 5-fold (default (5-fold): exact solver, 442 rows" in text
    assert "selection by one_se" in text


@pytest.mark.parametrize(("kind", "warmup"), [("mlp", 2), ("linear", 5)])
def test_the_default_pruner_warms_up_by_trainer(kind: str, warmup: int) -> None:
    """bench.pruning: 2 warm-up epochs saved more than 5 at equal quality for MLPs."""
    spec = StudySpec.model_validate(
        {"name": "p", "dataset": {"builtin": "diabetes"}, "model": {"kind": kind}}
    )
    assert spec.pruner.model_dump() == {
        "type": "median",
        "n_startup_trials": 10,
        "n_warmup_steps": warmup,
        "interval_steps": 1,
    }
    assert StudySpec.from_stored(spec.to_stored()).pruner == spec.pruner
    given = {"type": "median", "n_warmup_steps": 7}
    body = {"name": "p", "dataset": {"builtin": "diabetes"}, "model": {"kind": kind}}
    assert StudySpec.model_validate(body | {"pruner": given}).pruner.n_warmup_steps == 7  # type: ignore[union-attr]
