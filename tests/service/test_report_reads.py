"""The report's reads on both backends: bounded samples that always hold the best trial, the
loss-against-sparsity front over every trial, counts and sampled curves."""

from __future__ import annotations

import random

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy.orm import Session

from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.reads import at_once, read_engine
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.trials.report import report_data, state_counts
from tests.service.optuna_studies import add_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)
N = 300
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "lambda": FloatDistribution(1e-4, 1.0, log=True),
    "l1_ratio": FloatDistribution(0.0, 1.0),
}


def _study(database_url: str) -> tuple[optuna.Study, list[optuna.trial.FrozenTrial]]:
    upgrade(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url))
    rng = random.Random(0)
    trials = []
    for i in range(N):
        pruned = i % 4 == 3
        value = rng.uniform(0, 1)
        trials.append(
            create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else value,
                params={"lambda": 10 ** rng.uniform(-4, 0), "l1_ratio": rng.random()},
                distributions=DISTRIBUTIONS,
                intermediate_values={1: value + 1, 2: value + 0.5},
                user_attrs={"n_nonzero": rng.randint(0, 8), "fold_values": [value, value + 0.1]},
            )
        )
    add_trials(study, trials)
    return study, study.trials


def test_samples_are_bounded_and_hold_the_best(database_url: str) -> None:
    study, trials = _study(database_url)
    engine = make_engine(database_url)
    with transaction(engine) as session:
        data = report_data(session, study._study_id, direction="minimize", max_points=40)
    engine.dispose()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert data.counts["COMPLETE"] == len(complete) and data.counts["PRUNED"] == N - len(complete)
    assert 40 <= len(data.points) <= 40 + 50 + 1  # the spaced sample, the best 50, the best
    best = min(complete, key=lambda t: t.value or 0.0)
    assert data.best is not None and data.best.number == best.number
    assert data.best.params == best.params and data.best.n_nonzero == best.user_attrs["n_nonzero"]
    assert data.best.fold_se is not None and abs(data.best.fold_se - 0.05) < 1e-9
    assert data.band_l1 is not None and best.number in {p.number for p in data.band}
    assert all(data.band_l1[0] <= p.params["l1_ratio"] <= data.band_l1[1] for p in data.band)

    front, best_so_far = [], float("inf")  # every trial, by brute force
    for nz in sorted({t.user_attrs["n_nonzero"] for t in complete}):
        value = min(t.value or 0.0 for t in complete if t.user_attrs["n_nonzero"] == nz)
        if value < best_so_far:
            front.append((float(nz), value))
            best_so_far = value
    assert data.front == front

    assert 0 < len(data.curves["COMPLETE"]) <= 15 + 1 and 0 < len(data.curves["PRUNED"]) <= 15
    assert best.number in data.curves["COMPLETE"]  # the best trial's curve, whatever the sample
    assert all(len(c) == 2 for c in data.curves["PRUNED"].values())
    assert set(data.distributions) == {"lambda", "l1_ratio"}


def test_an_empty_study_reads_nothing(database_url: str) -> None:
    upgrade(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url))
    engine = make_engine(database_url)
    with transaction(engine) as session:
        data = report_data(session, study._study_id, direction="maximize")
    engine.dispose()
    assert data.points == [] and data.best is None and data.front == []
    assert sum(data.counts.values()) == 0 and data.distributions == {}


def test_reads_at_once_see_the_database_as_their_first_read_did(database_url: str) -> None:
    """A report's reads run together: a trial that finishes between two of them shows in
    neither, so the page's counts, samples and curves tell of one moment."""
    study, _ = _study(database_url)
    running = study.ask()
    sid = study._study_id

    def reads(session: Session) -> tuple[dict[str, int], dict[str, int]]:
        before = state_counts(session, sid)[0]
        study.tell(running, 0.5)  # another connection finishes a trial meanwhile
        return before, state_counts(session, sid)[0]

    try:
        with Session(read_engine(database_url)) as session:
            before, after = at_once(session, reads)
            assert before == after and after["RUNNING"] == 1
            assert state_counts(session, sid)[0]["RUNNING"] == 0  # after them: as it is now
    finally:
        read_engine.close(database_url)
