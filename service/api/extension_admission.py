"""What an extension of a study's budget must satisfy before the store grows it."""

from __future__ import annotations

from typing import Any, Literal, NoReturn

from fastapi.exceptions import RequestValidationError

from regtune.service.api.limits import check_extension
from regtune.service.api.schemas.studies import StudyExtension
from regtune.service.errors import StudyNotExtendable
from regtune.service.settings import Settings
from regtune.service.spec import admission, cost
from regtune.service.spec.dataset_refs import Uploaded
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.points import MAX_POINTS, points_trials, refusal
from regtune.service.spec.policies import GridSampler
from regtune.service.store.repos import datasets, extension, studies
from regtune.service.store.tables import StudyRow


def admit_extension(study: StudyRow, body: StudyExtension, *, settings: Settings) -> None:
    """The grown budget held to the rules a definition is admitted by: the service's most
    trials per study (a 422 naming the body's ``n_trials``), then what the budget costs (a 422
    naming ``budget.n_trials`` or ``budget.timeout_s``, as ``POST /v1/studies`` answers it): a
    GP sampler's memory grows with its trials, and a grid's points each run once (a 422 naming
    the field sent, ``n_trials`` or ``n_trials_total``, in an extension's terms). The points given
    are held to the definition's rules for its own (a 422 naming ``points_to_evaluate`` and the
    point). A study whose uploaded dataset was deleted since is a 409 (``StudyNotExtendable``).
    A definition this API cannot read answers 503, before anything changes."""
    spec = studies.definition_of(study)
    n_trials = grown_budget(study, body, spec)
    points = body.points_to_evaluate or []
    field: Literal["n_trials", "n_trials_total"] = "n_trials" if body.n_trials else "n_trials_total"
    if n_trials == study.n_trials and points and not extension.given_already(study.spec, points):
        _admit_points(spec, points, more=0, field=field, before=study.n_trials)  # a 422
    if n_trials <= study.n_trials:  # unchanged (a repeat), or lowered: the store answers (409)
        return
    check_extension(n_trials, settings, field=field)
    _admit_points(spec, points, more=n_trials - study.n_trials, field=field, before=study.n_trials)
    grown = {"n_trials": n_trials} | (
        {} if body.timeout_s is None else {"timeout_s": body.timeout_s}
    )
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update=grown)})
    uploaded = datasets.uploaded_shape(spec, tenant=study.tenant)
    if uploaded is None and isinstance(spec.dataset, Uploaded):
        raise StudyNotExtendable(
            f"study {study.id!r} cannot be extended: its dataset {spec.dataset.id!r} was "
            "deleted, so its trials would have no rows to train on; upload the same file again "
            "(it gets the same id), then extend the study"
        )
    terms = admission.Extension(before=study.n_trials, given_as=field)
    shape = cost.shape_of(spec, uploaded)
    admission.check(spec, shape, cost.Budget.from_settings(settings), extension=terms)


def _admit_points(
    spec: StudySpec,
    points: list[dict[str, Any]],
    *,
    more: int,
    field: Literal["n_trials", "n_trials_total"],
    before: int,
) -> None:
    """An extension's ``points_to_evaluate``: each within the study's space, a trial of the
    budget's growth ``more`` (from ``before``, as ``field`` asked), no more than ``MAX_POINTS``
    with the definition's own, and a sampler that runs them (not the grid's walk); a 422 naming
    the field otherwise."""
    if not points:
        return
    if isinstance(spec.sampler, GridSampler):
        _refuse_points((), "the grid sampler walks its grid: extend it with n_trials", points)
    if more < len(points):
        least = len(points) + (before if field == "n_trials_total" else 0)
        counted = "1 point" if len(points) == 1 else f"{len(points)} points"
        _refuse_points(
            (),
            f"{counted} but the budget grows by {more}: each point is a trial of the budget "
            f"(give {field} of at least {least}, or leave {field} out)",
            points,
        )
    given = len(spec.sampler.points_to_evaluate or ())
    if given + len(points) > MAX_POINTS:
        _refuse_points(
            (), f"the definition has {given} points already: at most {MAX_POINTS} in all", points
        )
    refused = refusal(spec.search_space, points)
    if refused is not None:
        _refuse_points(*refused)


def _refuse_points(at: tuple[int | str, ...], rule: str, given: Any) -> NoReturn:
    problem = {
        "type": "value_error",
        "loc": ("body", "points_to_evaluate", *at),
        "msg": rule,
        "input": given,
    }
    raise RequestValidationError([problem])


def grown_budget(study: StudyRow, body: StudyExtension, spec: StudySpec) -> int:
    """The budget the extension asks for, from the row as read: ``n_trials`` more, or
    ``n_trials_total``; points alone grow it by the trials they take (``points_growth``). A
    body with both counts, or with neither and no points, is a 422 naming the field."""
    if body.n_trials is None and body.n_trials_total is None and body.points_to_evaluate:
        return study.n_trials + points_growth(spec, body.points_to_evaluate)
    if (body.n_trials is None) == (body.n_trials_total is None):
        both = body.n_trials is not None
        rule = (
            "give n_trials (how many more) or n_trials_total (the budget in all), not both"
            if both
            else "required: give n_trials (how many more) or n_trials_total (the budget in all), "
            "or points_to_evaluate (one more per point)"
        )
        field = "n_trials_total" if both else "n_trials"
        problem = {"type": "value_error", "loc": ("body", field), "msg": rule}
        raise RequestValidationError([problem])
    if body.n_trials_total is not None:
        return body.n_trials_total
    return study.n_trials + (body.n_trials or 0)


def points_growth(spec: StudySpec, points: list[dict[str, Any]]) -> int:
    """What points given alone grow the budget by: one trial each, a path's points for one
    that leaves λ out in a λ-path study (it runs a path at its other knobs, as a definition's
    point does)."""
    return points_trials(points, path_points=spec.path_points)
