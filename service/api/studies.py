"""Study and trial resources under /v1."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from regtune.service.api.body import YAML_TYPES, read_definition
from regtune.service.api.deps import StudyDep, TenantDep
from regtune.service.api.errors import invalid_definition
from regtune.service.api.limits import check_definition
from regtune.service.api.schemas import (
    BestModel,
    BestTrial,
    CurvePoint,
    ErrorResponse,
    Progress,
    StudyBrief,
    StudyOut,
    StudyPage,
    TrialOut,
    TrialPage,
)
from regtune.service.errors import TrialNotFound
from regtune.service.settings import Settings, get_settings
from regtune.service.spec import cost
from regtune.service.spec.definition import EXAMPLE, StudySpec, resolve_task
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.reads import read
from regtune.service.store.repos import datasets, studies
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import views as trial_reads

router = APIRouter(prefix="/v1", tags=["studies"])
StateFilter = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}
_SPEC_SCHEMA = {"$ref": "#/components/schemas/StudySpec"}
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _SPEC_SCHEMA, "example": EXAMPLE},
            **{t: {"schema": _SPEC_SCHEMA} for t in YAML_TYPES[:1]},
        },
    }
}


def json_body(model: BaseModel) -> Response:
    """The model as JSON, serialized once by pydantic (FastAPI would validate and encode again)."""
    return Response(model.model_dump_json(), media_type="application/json")


def trial_out(view: trial_reads.TrialView, *, with_curve: bool = False) -> TrialOut:
    curve = None
    if with_curve:
        curve = [CurvePoint(epoch=k, value=v) for k, v in sorted(view.intermediate_values.items())]
    return TrialOut(
        number=view.number,
        state=view.state,
        value=view.value,
        values=view.values,
        params=view.params,
        user_attrs=view.user_attrs,
        datetime_start=view.datetime_start,
        datetime_complete=view.datetime_complete,
        learning_curve=curve,
        retried_from=view.system_attrs.get("failed_trial") if with_curve else None,
    )


def test_metrics_of(view: trial_reads.TrialView) -> dict[str, Any] | None:
    prefix = "test_"
    return {
        k.removeprefix(prefix): v for k, v in view.user_attrs.items() if k.startswith(prefix)
    } or None


def best_trial_out(
    view: trial_reads.TrialView,
    test_metrics: dict[str, Any] | None,
    refit_test_metrics: dict[str, Any] | None = None,
) -> BestTrial:
    return BestTrial(
        number=view.number,
        value=view.value,
        values=view.values,
        params=view.params,
        n_nonzero=view.user_attrs.get("n_nonzero"),
        user_attrs=view.user_attrs,
        test_metrics=test_metrics,
        refit_test_metrics=refit_test_metrics,
    )


def study_out(row: StudyRow, *, spec: StudySpec | None = None) -> StudyOut:
    """The study as the API shows it; ``spec``: its definition, if this request parsed it."""
    summary = studies.summarize(row, spec=spec)
    done = summary.counts["COMPLETE"] + summary.counts["PRUNED"]
    best = None
    if summary.best is not None:
        best = best_trial_out(
            summary.best, summary.best_test_metrics, summary.best_refit_test_metrics
        )
    pareto = None
    if summary.pareto is not None:
        pareto = [best_trial_out(v, test_metrics_of(v)) for v in summary.pareto]
    return StudyOut(
        id=row.id,
        name=row.name,
        status=row.status,
        optuna_study_name=row.optuna_name,
        definition=row.spec,
        counts=summary.counts,
        progress=Progress(
            done=done,
            n_trials=row.n_trials,
            running=summary.counts["RUNNING"],
            fraction=min(1.0, done / row.n_trials) if row.n_trials else 1.0,
        ),
        best_trial=best,
        pareto_front=pareto,
        best_model=BestModel.model_validate(summary.best_model) if summary.best_model else None,
        report_url=f"/v1/studies/{row.id}/report",
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


@router.post(
    "/studies",
    status_code=status.HTTP_201_CREATED,
    response_model=StudyOut,
    responses=ERRORS,
    openapi_extra=_CREATE_BODY,
    summary="Create a study from a definition (JSON, or YAML with Content-Type: application/yaml)",
)
async def create_study(request: Request, response: Response, tenant: TenantDep) -> StudyOut:
    data = await read_definition(request)
    created = await run_in_threadpool(_create, data, tenant)  # database and Optuna work block
    response.headers["Location"] = f"/v1/studies/{created.id}"
    return created


def admit(data: Any, *, tenant: str, settings: Settings) -> StudySpec:
    """The definition as ``POST /v1/studies`` accepts it, or the ``InvalidDefinition`` (422) it
    answers: every rule in one place, which the shipped definitions are tested against.

    Only a definition naming an uploaded dataset reads the database.
    """
    try:
        spec = StudySpec.model_validate(data)
        spec = resolve_task(spec, datasets.uploaded_task(spec, tenant=tenant))
    except ValidationError as exc:
        raise invalid_definition(exc) from None
    check_definition(spec, settings)
    shape = cost.shape_of(spec, datasets.uploaded_shape(spec, tenant=tenant))
    cost.check(spec, shape, cost.Budget.from_settings(settings))
    return spec


def _create(data: Any, tenant: str) -> StudyOut:
    spec = admit(data, tenant=tenant, settings=get_settings())
    row = studies.create_study(spec, tenant=tenant, api_url=get_settings().public_url)
    return study_out(row, spec=spec)


@router.get("/studies", response_model=StudyPage, responses=ERRORS)
def list_studies(
    tenant: TenantDep,
    status_: Annotated[StudyStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    rows, total = studies.list_rows(tenant=tenant, status=status_, offset=offset, limit=limit)
    items = [
        StudyBrief(
            id=r.id,
            name=r.name,
            status=r.status,
            n_trials=r.n_trials,
            done=r.n_done,
            running=r.n_running,
            created_at=r.created_at,
            finished_at=r.finished_at,
        )
        for r in rows
    ]
    return json_body(StudyPage(items=items, total=total, offset=offset, limit=limit))


@router.get("/studies/{study_id}", response_model=StudyOut, responses=ERRORS)
def get_study(study: StudyDep) -> Response:
    return json_body(study_out(study))


@router.get("/studies/{study_id}/trials", response_model=TrialPage, responses=ERRORS)
def list_trials(
    study: StudyDep,
    state: StateFilter | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    osid = study.optuna_study_id or -1
    total, views = read(
        lambda session: trial_reads.trial_page(
            session, osid, key=study.id, state=state, offset=offset, limit=limit
        )
    )
    page = TrialPage(items=[trial_out(v) for v in views], total=total, offset=offset, limit=limit)
    return json_body(page)


@router.get("/studies/{study_id}/trials/{number}", response_model=TrialOut, responses=ERRORS)
def get_trial(study: StudyDep, number: Annotated[int, Path(ge=0, le=2**31 - 1)]) -> Response:
    view = read(lambda session: trial_reads.get_trial(session, study.optuna_study_id or -1, number))
    if view is None:
        raise TrialNotFound(f"study {study.id!r} has no trial {number}")
    return json_body(trial_out(view, with_curve=True))


@router.post("/studies/{study_id}/cancel", response_model=StudyOut, responses=ERRORS)
def cancel_study(study: StudyDep, tenant: TenantDep) -> StudyOut:
    return study_out(studies.cancel(study.id, tenant=tenant))


@router.delete("/studies/{study_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_study(study: StudyDep, tenant: TenantDep) -> Response:
    studies.delete(study.id, tenant=tenant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
