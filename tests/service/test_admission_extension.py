"""A grid's repeats said in an extension's terms (``admission.problems(..., extension=...)``): a
definition's advice ("give n_trials ≤ 4, or leave it out (the grid's size)") told a caller
extending a grid study by ``n_trials: 1`` to do what an extension cannot, where ``n_trials`` is
how many more and leaving it out is a 422 of its own.

Fast: the rule is called as the API's extension calls it, on the grown definition."""

from __future__ import annotations

import copy
from typing import Literal

import pytest

from regtune.service.settings import Settings
from regtune.service.spec import admission, cost
from regtune.service.spec.definition import EXAMPLE, StudySpec

BUDGET = cost.Budget.from_settings(Settings())
SPACE = {"lambda": {"choices": [0.1, 1.0]}, "l1_ratio": {"choices": [0.0, 1.0]}, "relax": 0.0}


def grown(n_trials: int) -> StudySpec:
    """A linear grid study over 4 points, its budget grown to ``n_trials``."""
    body = copy.deepcopy(EXAMPLE)
    body |= {"name": "grid", "search_space": SPACE, "sampler": {"type": "grid"}}
    body["model"] = {"kind": "linear"}
    body["training"] = {"solver": "exact", "lambda_path": None}
    body["budget"] = {"n_trials": n_trials}
    return StudySpec.model_validate(body)


def refusal(
    n_trials: int, *, before: int, given_as: Literal["n_trials", "n_trials_total"]
) -> tuple[str, str]:
    study = grown(n_trials)
    terms = admission.Extension(before=before, given_as=given_as)
    (problem,) = admission.problems(study, cost.shape_of(study), BUDGET, extension=terms)
    return problem.path, problem.rule


def test_an_exhausted_grid_says_so_in_the_field_the_caller_sent() -> None:
    assert refusal(5, before=4, given_as="n_trials") == (
        "n_trials",
        "the grid sampler's grid has 4 points, each run once, and budget.n_trials 4 takes all "
        "4: the grid is exhausted, and n_trials 1 more would run 1 of them again, to the same "
        "result (submit a new study over a larger grid)",
    )
    path, rule = refusal(6, before=4, given_as="n_trials_total")
    assert path == "n_trials_total" and "and n_trials_total 6 would run 2 of them again" in rule
    assert "the grid is exhausted" in rule and "leave it out" not in rule


@pytest.mark.parametrize(
    ("n_trials", "given_as", "asked", "advice"),
    [
        (5, "n_trials", "n_trials 3 more", "extend by at most 2 (n_trials ≤ 2)"),
        (5, "n_trials_total", "n_trials_total 5", "extend to at most 4 (n_trials_total ≤ 4)"),
    ],
)
def test_a_grid_with_points_left_says_how_far_it_extends(
    n_trials: int,
    given_as: Literal["n_trials", "n_trials_total"],
    asked: str,
    advice: str,
) -> None:
    assert refusal(n_trials, before=2, given_as=given_as) == (
        given_as,
        "the grid sampler's grid has 4 points, each run once, and budget.n_trials 2 takes 2 "
        f"of them: 2 remain, and {asked} would run 1 of them again, to the same result: {advice}",
    )


def test_an_extension_within_the_grid_and_a_definition_are_as_before() -> None:
    terms = admission.Extension(before=2, given_as="n_trials")
    assert admission.problems(grown(4), cost.shape_of(grown(4)), BUDGET, extension=terms) == []
    (problem,) = admission.problems(grown(5), cost.shape_of(grown(5)), BUDGET)
    assert problem.path == "budget.n_trials"
    assert problem.rule.endswith("give n_trials ≤ 4, or leave it out (the grid's size)")


def test_one_point_left_is_said_in_the_singular() -> None:
    _, rule = refusal(6, before=3, given_as="n_trials")
    assert "budget.n_trials 3 takes 3 of them: 1 remains, and n_trials 3 more" in rule, rule
    assert "extend by at most 1 (n_trials ≤ 1)" in rule and "point(s)" not in rule
