"""Sparsity objectives, /metrics and the examples, through a real API and real workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
import yaml
from optuna.storages._rdb import models as om
from optuna.trial import TrialState
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from regtune.service.store.optuna_db.attrs import PATH_OF_ATTR
from regtune.service.store.tables import StudyRow
from regtune.worker import data
from tests.support import ROOT, Processes, Stack, wait_for

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def example(name: str, **budget: Any) -> dict[str, Any]:
    definition = yaml.safe_load((ROOT / "examples" / name).read_text())
    definition["budget"].update(budget)
    return definition


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, module_processes: Processes) -> Stack:
    tmp = module_processes.tmp / request.param
    tmp.mkdir()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'regtune.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"t_sparse_{tmp.name[-8:]}")
    stack = module_processes.stack(url, REGTUNE_ARTIFACT_DIR=str(tmp / "artifacts"))
    stack.start_api()
    stack.start_workers(2)
    return stack


@pytest.fixture(scope="module")
def sparse(stack: Stack) -> dict[str, dict[str, Any]]:
    """The constrained and the two-objective study on the sparse synthetic data, completed."""
    ids = {
        "constrained": stack.submit(example("sparse-constrained.yaml", n_trials=10))["id"],
        "pareto": stack.submit(example("sparse-pareto.yaml", n_trials=12))["id"],
    }
    return {k: finished(stack, v) for k, v in ids.items()}


def finished(stack: Stack, study_id: str) -> dict[str, Any]:
    """Completed, and its best model saved (the finishing worker retrains it just after)."""
    stack.wait_status(study_id, timeout=1200)
    return wait_for(
        lambda: (s := stack.study(study_id))["best_model"] is not None and s,
        timeout=300,
        what=f"the best model of {study_id}",
    )


def all_trials(stack: Stack, study_id: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{stack.url}/v1/studies/{study_id}/trials", params={"limit": 500}).json()
    return page["items"]


def test_constraint_study_best_trial_is_within_max_nonzero(
    stack: Stack, sparse: dict[str, dict[str, Any]]
) -> None:
    study = sparse["constrained"]
    limit = study["definition"]["objective"]["max_nonzero"]
    best = study["best_trial"]
    assert best is not None and best["n_nonzero"] <= limit
    assert best["user_attrs"]["feasible"] is True
    complete = [t for t in all_trials(stack, study["id"]) if t["state"] == "COMPLETE"]
    infeasible = [t for t in complete if t["user_attrs"]["n_nonzero"] > limit]
    assert infeasible and all(t["user_attrs"]["feasible"] is False for t in infeasible)
    feasible = [t for t in complete if t["user_attrs"]["n_nonzero"] <= limit]
    assert best["value"] == min(t["value"] for t in feasible)
    # Optuna agrees (its best trial honours set_constraint's values)
    optuna_study = optuna.load_study(
        study_name=study["optuna_study_name"], storage=stack.database_url
    )
    assert optuna_study.best_trial.number == best["number"]
    assert study["best_model"]["trial"] == best["number"]
    assert study["pareto_front"] is None


def test_pareto_front_holds_the_true_support_within_five_percent_of_the_best(
    stack: Stack, sparse: dict[str, dict[str, Any]]
) -> None:
    study = sparse["pareto"]
    assert study["definition"]["pruner"]["type"] == "none"
    assert study["counts"]["PRUNED"] == 0 and study["counts"]["COMPLETE"] == 12
    front = study["pareto_front"]
    assert front, study
    spec = study["definition"]["dataset"]
    true_support = len(data.load(spec).true_support)  # type: ignore[arg-type]
    best_loss = min(t["values"][0] for t in front)
    at_support = [t for t in front if t["user_attrs"]["n_inputs"] == true_support]
    assert at_support, [(t["values"], t["user_attrs"]["n_inputs"]) for t in front]
    assert min(t["values"][0] for t in at_support) <= 1.05 * best_loss
    # the same set as Optuna's own Pareto front
    optuna_study = optuna.load_study(
        study_name=study["optuna_study_name"], storage=stack.database_url
    )
    assert sorted(t["number"] for t in front) == sorted(t.number for t in optuna_study.best_trials)
    # early stopping still applies without pruning
    trials = all_trials(stack, study["id"])
    assert all(t["user_attrs"]["epochs_run"] < 300 for t in trials)


def test_metrics_parse_and_match_the_database(
    stack: Stack, sparse: dict[str, dict[str, Any]]
) -> None:
    text = httpx.get(f"{stack.url}/metrics", timeout=30).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(StudyRow.status, func.count()).group_by(StudyRow.status)).all()
        )
        ours = select(StudyRow.optuna_study_id)
        states = {
            state.name: n
            for state, n in conn.execute(
                select(om.TrialModel.state, func.count())
                .where(om.TrialModel.study_id.in_(ours))
                .group_by(om.TrialModel.state)
            ).all()
        }
        attr = om.TrialSystemAttributeModel
        path_points = conn.scalar(  # a λ path's further points: written by their path's claim
            select(func.count())
            .select_from(attr)
            .join(om.TrialModel, om.TrialModel.trial_id == attr.trial_id)
            .where(om.TrialModel.study_id.in_(ours), attr.key == PATH_OF_ATTR)
        )
    engine.dispose()
    studies = {s.labels["status"]: s.value for s in families["regtune_studies"].samples}
    assert studies == {k: float(statuses.get(k, 0)) for k in studies}
    assert sum(studies.values()) == sum(statuses.values())
    trials = {s.labels["state"]: s.value for s in families["regtune_trials"].samples}
    assert trials == {s.name: float(states.get(s.name, 0)) for s in TrialState}
    durations = families["regtune_trial_duration_seconds"].samples
    counts = {s.labels["state"]: s.value for s in durations if s.name.endswith("_count")}
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        assert counts[state] == float(states.get(state, 0)), state
    claims = [s for s in families["regtune_claim_latency_seconds"].samples]
    claim_count = next(s.value for s in claims if s.name.endswith("_count"))
    claimed = sum(states.values()) - states.get("WAITING", 0) - path_points
    assert claim_count >= claimed > 0
    live = families["regtune_workers_live"].samples[0].value
    assert live == 2.0
    assert "regtune_http_request_duration_seconds" in families


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_on_a_tiny_budget(stack: Stack, path: Path) -> None:
    definition = yaml.safe_load(path.read_text())
    definition["name"] = f"tiny-{path.stem}"
    definition["budget"]["n_trials"] = 2
    training = definition.setdefault("training", {})
    if training.get("solver", "exact" if definition["model"]["kind"] == "linear" else None) == (
        "exact"
    ):
        training["max_iter"] = min(
            training.get("max_iter", 10_000), 200
        )  # the exact solver's budget
    else:
        training["max_epochs"] = min(training.get("max_epochs", 50), 4)
    study = stack.wait_status(stack.submit(definition)["id"], timeout=900)
    assert study["progress"]["done"] == 2
    assert study["counts"]["COMPLETE"] + study["counts"]["PRUNED"] == 2
    if study["best_trial"] is not None:
        study = finished(stack, study["id"])
        assert study["best_model"]["trial"] == study["best_trial"]["number"]
