"""The stop rule's arithmetic (``stopping.advance``), on both directions: which value is the
best, when patience counts from, when a goal is reached, and what never counts as the best."""

from __future__ import annotations

import math

from optuna.trial import TrialState

from regtune.service.spec.policies import StopRule
from regtune.service.store.scheduling.claims.stopping import Finished, Progress, Rule, advance

START = Progress(best_value=None, best_trial=None, best_at=0, stopped_by=None)


def complete(*values: float) -> list[Finished]:
    return [Finished(TrialState.COMPLETE, value, number) for number, value in enumerate(values)]


def test_a_maximized_metric_improves_upward_and_min_delta_keeps_patience_counting() -> None:
    """0.71 is the new best but only 0.01 above 0.70: patience still counts from 0.70's trial."""
    rule = Rule(StopRule(patience=3, min_delta=0.02), maximize=True)
    values = complete(0.5, 0.7, 0.65, 0.71)
    progress = advance(START, rule, values, done=4)
    assert progress == Progress(best_value=0.71, best_trial=3, best_at=2, stopped_by=None)
    progress = advance(progress, rule, [Finished(TrialState.COMPLETE, 0.69, 4)], done=5)
    assert (progress.best_value, progress.stopped_by) == (0.71, "patience")


def test_a_goal_is_reached_at_or_beyond_it_in_the_objective_s_direction() -> None:
    up = Rule(StopRule(value=0.7), maximize=True)
    assert advance(START, up, complete(0.5, 0.69), done=2).stopped_by is None
    reached = advance(START, up, complete(0.5, 0.7, 0.2), done=3)
    assert (reached.best_value, reached.best_trial, reached.stopped_by) == (0.7, 1, "value")

    down = Rule(StopRule(value=0.3), maximize=False)
    assert advance(START, down, complete(0.5, 0.31), done=2).stopped_by is None
    assert advance(START, down, complete(0.5, 0.29), done=2).stopped_by == "value"


def test_the_rule_that_stopped_a_study_stays_while_its_running_trials_still_improve_it() -> None:
    rule = Rule(StopRule(value=0.3, patience=2), maximize=False)
    stopped = advance(START, rule, complete(0.5, 0.6, 0.7), done=3)
    assert stopped.stopped_by == "patience"
    later = advance(stopped, rule, [Finished(TrialState.COMPLETE, 0.1, 3)], done=4)
    assert (later.best_value, later.best_trial, later.stopped_by) == (0.1, 3, "patience")


def test_pruned_diverged_infeasible_and_non_finite_trials_are_never_the_best_but_count() -> None:
    """Each of them is counted for patience (a trial that did not improve the best), none is
    the best value: a PRUNED trial's value is an intermediate one; a diverged trial's is ±inf;
    an infeasible one (``objective.max_nonzero``) cannot be chosen."""
    rule = Rule(StopRule(patience=4), maximize=False)
    finished = [
        Finished(TrialState.COMPLETE, 0.5, 0),
        Finished(TrialState.PRUNED, 0.1, 1),
        Finished.of(TrialState.COMPLETE, [0.05], 2, {"diverged": True}),
        Finished.of(TrialState.COMPLETE, [0.05], 3, {"feasible": False}),
        Finished(TrialState.COMPLETE, -math.inf, 4),
    ]
    progress = advance(START, rule, finished, done=5)
    assert (progress.best_value, progress.best_trial, progress.best_at) == (0.5, 0, 1)
    assert progress.stopped_by == "patience"
