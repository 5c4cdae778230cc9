"""Study and trial resources under /v1."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator, ValidationError

from regtune.service.api import render
from regtune.service.api.access import confirm
from regtune.service.api.body import YAML_TYPES, documented, read_as, read_definition
from regtune.service.api.contract import errors
from regtune.service.api.deps import (
    CallerDep,
    ReachDep,
    RecentStudyDep,
    StudyDep,
    TenantDep,
    listed_tenant,
)
from regtune.service.api.errors import invalid_definition
from regtune.service.api.extension_admission import admit_extension, points_growth
from regtune.service.api.limits import check_definition
from regtune.service.api.render import json_body, study_out, trial_out
from regtune.service.api.schemas.studies import (
    STUDY_WAIT_MAX,
    TENANTS_HEADER,
    ExtendedStudy,
    StudyExtension,
    StudyOut,
    StudyPage,
)
from regtune.service.api.schemas.trials import TrialOut, TrialPage, TrialState
from regtune.service.api.url_integers import PageLimit, PageOffset, TrialNumber, TrialOffset
from regtune.service.errors import TrialNotFound
from regtune.service.settings import Settings, get_settings
from regtune.service.spec import admission, cost
from regtune.service.spec.definition import EXAMPLE, NAME_PATTERN, StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.service.spec.resolve import (
    check_task,
    resolve_relax,
    resolve_relax_margin,
    resolve_task,
    resolve_validation,
)
from regtune.service.store.reads import read
from regtune.service.store.repos import (
    cancel_and_delete,
    datasets,
    extension,
    studies,
    study_creation,
    study_summary,
)
from regtune.service.store.repos.keys import TENANT_PATTERN
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import views as trial_reads

router = APIRouter(prefix="/v1", tags=["studies"])
StateFilter = Annotated[
    TrialState,
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]
"""A trial state, in any case (``complete``, ``Complete``): Optuna's names are upper case."""
StatusFilter = Annotated[
    StudyStatus, BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value)
]
"""A study status, in any case (``Running``, ``RUNNING``): regtune's are lower case."""


NO_STUDY = "no study has this id (for this key: another tenant's study is not found either)"
NO_STUDY_ERRORS = errors({404: NO_STUDY})
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


@router.post(
    "/studies",
    status_code=status.HTTP_201_CREATED,
    response_model=StudyOut,
    responses=errors(
        {
            409: "the tenant has a study of this name (error.fields names name)",
            422: "the definition breaks a rule, or does not fit its data or this service's "
            "limits: error.fields names each field (as written) and its rule",
        }
    ),
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

    Only a definition naming an uploaded dataset reads the database. A sampler seed left out
    stays out here: ``study_creation.create_study`` draws it when it stores the study.
    """
    return admit_with_shape(data, tenant=tenant, settings=settings)[0]


def admit_with_shape(
    data: Any, *, tenant: str, settings: Settings
) -> tuple[StudySpec, cost.DataShape]:
    """``admit``'s definition, and the shape of its data."""
    try:
        spec = StudySpec.model_validate(data)
        check_task(spec)
        spec = resolve_task(spec, datasets.uploaded_task(spec, tenant=tenant))
        spec = resolve_relax(spec)
    except ValidationError as exc:
        raise invalid_definition(exc, data) from None
    check_definition(spec, settings)
    shape = cost.shape_of(spec, datasets.uploaded_shape(spec, tenant=tenant))
    try:
        spec = resolve_validation(
            spec,
            rows=shape.rows,
            features=shape.features,
            outputs=shape.outputs,
            smallest_class=shape.smallest_class,
        )
        spec = resolve_relax_margin(spec)
    except ValidationError as exc:
        raise invalid_definition(exc, data) from None
    admission.check(spec, shape, cost.Budget.from_settings(settings))
    return spec, shape


def _create(data: Any, tenant: str) -> StudyOut:
    settings = get_settings()
    spec, shape = admit_with_shape(data, tenant=tenant, settings=settings)
    row = study_creation.create_study(
        spec,
        tenant=tenant,
        api_url=settings.public_url,
        slots_per_claim=cost.slots_per_claim(spec, shape, settings),
    )
    return study_out(row)  # the definition as stored, with the seed drawn if none was given


def _tenants(reach: studies.Reach) -> str:
    """Whose studies an answer is drawn from (``TENANTS_HEADER``): ``all``, every tenant's (a
    listing of the admin key without ``?tenant=``, a study the admin key reads) or ``one`` (the
    caller's tenant's, or the one asked for), so that a client says whose a study is exactly
    when it could be anyone's, whatever one page holds."""
    return "all" if reach is None else "one"


def _tenants_header(described: str) -> dict[int | str, dict[str, Any]]:
    """The 200's ``X-Regtune-Tenants``, with what it says on the route."""
    schema = {"type": "string", "enum": ["all", "one"]}
    return {200: {"headers": {TENANTS_HEADER: {"description": described, "schema": schema}}}}


@router.get(
    "/studies",
    response_model=StudyPage,
    responses={
        **_tenants_header(
            "all: every tenant's studies (the admin key, without tenant); one: one tenant's "
            "(the caller's, or the tenant asked for)"
        ),
        **errors(
            {
                403: "another tenant than the caller's, asked by a tenant's key or with no key "
                "configured (error.fields names tenant)"
            }
        ),
    },
)
async def list_studies(
    who: CallerDep,
    status_: Annotated[StatusFilter | None, Query(alias="status")] = None,
    tenant_: Annotated[
        str | None,
        Query(
            alias="tenant",
            pattern=TENANT_PATTERN,
            description="only this tenant's studies (the admin key, which lists every tenant's)",
        ),
    ] = None,
    name: Annotated[
        str | None,
        Query(
            pattern=NAME_PATTERN,
            description="only the study of this name (a name is unique per tenant): whether a "
            "submission the client did not see answered created it",
        ),
    ] = None,
    offset: PageOffset = 0,
    limit: PageLimit = 50,
) -> Response:
    tenant = listed_tenant(who, tenant_)
    body = render.recent_study_list(tenant, status_, name, offset, limit)
    if body is None:
        body = await run_in_threadpool(render.study_list_body, tenant, status_, name, offset, limit)
    response = json_body(body)
    response.headers[TENANTS_HEADER] = _tenants(tenant)
    return response


@router.get(
    "/studies/{study_id}",
    response_model=StudyOut,
    responses={
        **_tenants_header(
            "all: the caller reaches every tenant's studies (the admin key); one: its own tenant's"
        ),
        **NO_STUDY_ERRORS,
    },
)
async def get_study(
    request: Request,
    study: RecentStudyDep,
    reach: ReachDep,
    wait: Annotated[
        float | None,
        Query(
            gt=0,
            le=STUDY_WAIT_MAX,
            allow_inf_nan=False,  # nan passed the bounds' checks and read as over the largest
            description="hold the answer up to this many seconds until the study has ended and "
            "the best model it will have is saved (a client waiting for the end asks once "
            "instead of polling); a key revoked while the answer is held gets the 401 of a "
            "revoked key",
        ),
    ] = None,
) -> Response:
    if wait is not None:
        try:
            study = await _settled(study, wait)
        finally:  # the key may have been revoked while the answer was held, the study deleted
            await confirm(request)
    body = render.known_study_body(study)
    if body is None:
        body = await run_in_threadpool(render.study_body, study)
    response = json_body(body)
    response.headers[TENANTS_HEADER] = _tenants(reach)
    return response


async def _settled(row: StudyRow, wait: float) -> StudyRow:
    """The study's row once it has ended with nothing more to come (its best model saved, if it
    will have one), or as it is after ``wait`` seconds: looked at again every
    ``studies.held_interval()``, one read for all the requests holding theirs."""
    deadline = time.monotonic() + wait
    while not await run_in_threadpool(study_summary.settled, row):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(studies.held_interval(), left))
        row = await run_in_threadpool(studies.held_row, row.id, tenant=row.tenant)
    return row


@router.get("/studies/{study_id}/trials", response_model=TrialPage, responses=NO_STUDY_ERRORS)
async def list_trials(
    study: RecentStudyDep,
    state: Annotated[
        StateFilter | None,
        Query(
            description="only trials in this state: RUNNING, COMPLETE, PRUNED, FAIL or "
            "WAITING, in any case"
        ),
    ] = None,
    offset: TrialOffset = 0,
    limit: PageLimit = 50,
) -> Response:
    body = render.known_trial_page_body(study, state=state, offset=offset, limit=limit)
    if body is None:
        page = partial(render.trial_page_body, study, state=state, offset=offset, limit=limit)
        body = await run_in_threadpool(page)
    return json_body(body)


@router.get(
    "/studies/{study_id}/trials/{number}",
    response_model=TrialOut,
    responses=errors({404: f"{NO_STUDY}, or the study has no trial of this number"}),
)
def get_trial(study: StudyDep, number: TrialNumber) -> Response:
    view = read(lambda session: trial_reads.get_trial(session, study.optuna_study_id or -1, number))
    if view is None:
        raise TrialNotFound(f"study {study.id!r} has no trial {number}")
    return json_body(trial_out(view, with_curve=True))


@router.post(
    "/studies/{study_id}/cancel",
    response_model=StudyOut,
    responses=errors(
        {
            404: NO_STUDY,
            409: "the study has completed or failed already (a cancelled one is answered as it is)",
        }
    ),
)
def cancel_study(study: StudyDep) -> StudyOut:
    studies.definition_of(study)  # one this API cannot read answers 503 before anything changes
    return study_out(cancel_and_delete.cancel(study.id, tenant=study.tenant))


@router.post(
    "/studies/{study_id}/extend",
    response_model=ExtendedStudy,
    responses=errors(
        {
            404: NO_STUDY,
            409: "the study has failed: its errors would end it again (submit it anew); its "
            "best value reaches budget.stop.value (the first trial would stop it again); its "
            "uploaded dataset was deleted (upload the file again); or n_trials_total is below "
            "its budget.n_trials (a budget only grows; error.fields names n_trials_total)",
        }
    ),
    openapi_extra=documented(StudyExtension),
    summary="Give a study more trials: its budget grows; a completed or cancelled study is "
    "queued again and goes on from its trials",
)
def extend_study(
    study: StudyDep, body: Annotated[StudyExtension, Depends(read_as(StudyExtension))]
) -> ExtendedStudy:
    admit_extension(study, body, settings=get_settings())
    points, more = body.points_to_evaluate, body.n_trials
    if points and more is None and body.n_trials_total is None:  # points alone
        more = points_growth(studies.definition_of(study), points)
    done = extension.extend(
        study.id,
        n_trials=more,
        n_trials_total=body.n_trials_total,
        timeout_s=body.timeout_s,
        points=points,
        tenant=study.tenant,
    )
    return ExtendedStudy(
        study=study_out(done.row),
        n_trials_before=done.n_trials_before,
        status_before=StudyStatus(done.status_before),
        reopened=done.reopened,
        extended=done.extended,
    )


@router.delete(
    "/studies/{study_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors({404: NO_STUDY, 409: "trials of the study are running: cancel it first"}),
)
def delete_study(study: StudyDep) -> Response:
    cancel_and_delete.delete(study.id, tenant=study.tenant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
