"""The report's learning curves on both backends: every trial of a small state drawn, a large
state sampled evenly from its first trial to its last, the best trial always among them; and the
steps the pruner saved averaged over every trial of each state, not over the drawn ones."""

from __future__ import annotations

import copy
import itertools
import re
import uuid

import optuna
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from regtune.service.api.report_words import saved_steps
from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import get_storage, storage_with_retries
from regtune.service.store.trials.curves import CURVES, sample_curves
from regtune.service.store.trials.report import report_data, state_counts
from regtune.service.store.trials.views import reported_steps
from tests.service.optuna_studies import add_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)
X: dict[str, BaseDistribution] = {"lambda": FloatDistribution(1e-4, 1.0, log=True)}


def _study(database_url: str, plan: list[tuple[bool, int, float]]) -> optuna.Study:
    """One trial per (pruned, steps reported, value) of ``plan``, numbered in its order."""
    upgrade(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url))
    add_trials(
        study,
        [
            create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else value,
                params={"lambda": 0.01},
                distributions=X,
                intermediate_values={e: value + 1 / e for e in range(1, steps + 1)},
            )
            for pruned, steps, value in plan
        ],
    )
    return study


def _numbers(trials: list[FrozenTrial], state: TrialState) -> list[int]:
    return [t.number for t in trials if t.state == state]


def test_every_trial_of_a_small_state_is_drawn(database_url: str) -> None:
    """11 COMPLETE and 9 PRUNED trials: the curves drawn were COMPLETE 0, 1, 2, 3, 4, 6, 9, 10
    (a step under one: some twice, none after 10), missing 12, 13 and 19, the best trial."""
    pruned = {5, 7, 8, 11, 14, 15, 16, 17, 18}
    plan = [(i in pruned, 3 if i in pruned else 20, 1.0 - i / 100) for i in range(20)]
    study = _study(database_url, plan)
    engine = make_engine(database_url)
    with transaction(engine) as session:
        counts, _ = state_counts(session, study._study_id)
        curves = sample_curves(session, study._study_id, counts=counts)
    engine.dispose()
    assert sorted(curves["COMPLETE"]) == _numbers(study.trials, TrialState.COMPLETE)
    assert sorted(curves["PRUNED"]) == sorted(pruned)
    assert all(len(curve) == 20 for curve in curves["COMPLETE"].values())


def test_a_large_state_is_sampled_evenly_from_its_first_trial_to_its_last(
    database_url: str,
) -> None:
    """1,000 trials, every tenth PRUNED: the PRUNED curves were the first 15 PRUNED trials
    (numbers 9 to 149 of 999), few of them falling on the stride spaced for the whole study."""
    plan = [(i % 10 == 9, 2 if i % 10 == 9 else 6, 0.1 if i == 503 else 0.5) for i in range(1000)]
    study = _study(database_url, plan)
    best = study.trials[503]  # the best value, off the stride
    engine = make_engine(database_url)
    with transaction(engine) as session:
        counts, _ = state_counts(session, study._study_id)
        curves = sample_curves(session, study._study_id, counts=counts)
        with_best = sample_curves(session, study._study_id, counts=counts, best=best.number)
    engine.dispose()
    for state in (TrialState.PRUNED, TrialState.COMPLETE):
        every = _numbers(study.trials, state)
        drawn = sorted(curves[state.name])
        assert len(drawn) == CURVES, (state, drawn)
        span = len(every) // CURVES + 1
        assert drawn[0] <= every[span] and drawn[-1] >= every[-span], (state, drawn)
        gaps = [b - a for a, b in itertools.pairwise(drawn)]
        assert max(gaps) <= 2 * min(gaps), (state, drawn)
    assert best.number not in curves["COMPLETE"]
    assert set(with_best["COMPLETE"]) == {*curves["COMPLETE"], best.number}
    assert with_best["PRUNED"] == curves["PRUNED"]


def test_the_steps_saved_are_averaged_over_every_trial(database_url: str) -> None:
    """The note averaged the drawn curves: "9 pruned trials stopped after 5.0 reported steps
    on average, against 22.2 for complete ones" where every trial's gave 4.11 and 20.6. The
    trial index counts each finished trial's steps once: a later read adds those finished
    since, a new process's index counts them all."""
    plan = [
        (i % 3 == 2, 1 + i % 7 if i % 3 == 2 else 10 + i % 13, 1.0 - i / 100) for i in range(60)
    ]
    study = _study(database_url, plan)
    key = uuid.uuid4().hex  # regtune's study id: a fresh database reuses Optuna's ids

    def expected() -> tuple[float, float, int, int, int]:
        complete = [len(t.intermediate_values) for t in study.trials if t.state.name == "COMPLETE"]
        pruned = [len(t.intermediate_values) for t in study.trials if t.state.name == "PRUNED"]
        full, ran = sum(complete) / len(complete), sum(pruned) / len(pruned)
        return full, ran, len(pruned), sum(complete), sum(pruned)

    engine = make_engine(database_url)
    for more in (0, 7):  # then 7 trials more, 3 of them pruned
        add_trials(
            study,
            [
                create_trial(
                    state=TrialState.PRUNED if i % 3 == 0 else TrialState.COMPLETE,
                    value=None if i % 3 == 0 else 0.9,
                    params={"lambda": 0.01},
                    distributions=X,
                    intermediate_values={e: 1.0 for e in range(1, 31 - 4 * i)},
                )
                for i in range(more)
            ],
        )
        full, ran, n, complete, pruned = expected()
        for by in (key, uuid.uuid4().hex):  # the index read again, and a new process's
            with transaction(engine) as session:
                data = report_data(session, study._study_id, direction="minimize")
                data.reported = reported_steps(session, study._study_id, key=by)
            assert (data.reported["COMPLETE"].steps, data.reported["PRUNED"].steps) == (
                complete,
                pruned,
            )
            assert data.reported["PRUNED"].trials == data.counts["PRUNED"] == n
            assert saved_steps(data) == (
                f"{n} pruned trials stopped after {ran:.1f} reported steps on average, against "
                f"{full:.1f} for complete ones: about {(full - ran) * n:,.0f} steps saved."
            )
    engine.dispose()


def test_the_report_page_says_the_steps_of_every_trial(api: TestClient) -> None:
    """The page's note reads the steps on a connection of its own, beside the front."""
    body = {**copy.deepcopy(EXAMPLE), "name": "steps"}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    plan = [(i % 4 == 3, 1 + i % 3 if i % 4 == 3 else 5 + i % 11, 1.0 - i / 100) for i in range(80)]
    add_trials(
        study,
        [
            create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else value,
                params={"lambda": 0.01 * (1 + i % 5)},
                distributions=X,
                intermediate_values={e: value + 1 / e for e in range(1, steps + 1)},
                user_attrs={"n_nonzero": 3},
            )
            for i, (pruned, steps, value) in enumerate(plan)
        ],
    )
    complete = [s for p, s, _ in plan if not p]
    pruned = [s for p, s, _ in plan if p]
    full, ran = sum(complete) / len(complete), sum(pruned) / len(pruned)
    page = api.get(f"/v1/studies/{created.json()['id']}/report")
    assert page.status_code == 200, page.text
    said = f"20 pruned trials stopped after {ran:.1f} reported steps on average, against {full:.1f}"
    assert said in page.text, re.findall(r"\d+ pruned trials stopped[^.]*\.\d", page.text)
