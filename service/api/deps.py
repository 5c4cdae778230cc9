"""Dependencies that do the lookups (and the 404s) so routes stay one-liners."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.concurrency import run_in_threadpool

from regtune.service.api.access import CALLER_KEY
from regtune.service.errors import FieldProblem, Forbidden, Unauthorized
from regtune.service.store.repos import studies
from regtune.service.store.repos.keys import Caller
from regtune.service.store.tables import StudyRow


async def caller(request: Request) -> Caller:
    """Who is calling, as the authentication middleware found it
    (``regtune.service.api.access``)."""
    found = request.scope.get("state", {}).get(CALLER_KEY)
    if not isinstance(found, Caller):
        raise Unauthorized("the request was not authenticated")
    return found


CallerDep = Annotated[Caller, Depends(caller)]


async def tenant(who: CallerDep) -> str:
    """The caller's tenant. Without API keys configured, everyone is the default tenant."""
    return who.tenant


TenantDep = Annotated[str, Depends(tenant)]


def sees_the_pool(who: Caller) -> bool:
    """Pool-wide views (every tenant's totals, every worker) are the operator's: the admin key,
    or anyone when no keys are configured. A tenant's key sees only its own."""
    return who.admin or who.key_id is None


def operator(who: CallerDep) -> Caller:
    if not sees_the_pool(who):
        raise Forbidden("this pool-wide view needs the admin key (REGTUNE_ADMIN_KEY)")
    return who


OperatorDep = Annotated[Caller, Depends(operator)]


def reach_of(who: Caller) -> studies.Reach:
    """Whose studies the caller reads and acts on: its tenant's, or every tenant's for the admin
    key (the operator cancels what fills the pool). It creates studies in its own tenant."""
    return None if who.admin else who.tenant


async def reach(who: CallerDep) -> studies.Reach:
    return reach_of(who)


ReachDep = Annotated[studies.Reach, Depends(reach)]


def listed_tenant(who: Caller, asked: str | None) -> studies.Reach:
    """Whose studies a listing shows: the tenant asked for (``?tenant=``), within reach."""
    reach = reach_of(who)
    if asked is None or asked == reach:
        return reach
    if reach is None:
        return asked
    if who.key_id is None:  # no key configured: the open service, where everyone is one tenant
        rule = (
            f"API keys are off on this server (no REGTUNE_ADMIN_KEY, no key made), so every "
            f"caller is tenant {reach!r} and lists only its studies, not those of {asked!r}; "
            "every tenant's are the admin key's once REGTUNE_ADMIN_KEY is set"
        )
    else:
        rule = (
            f"a tenant's key lists only its own studies ({reach!r}), not {asked!r}; every "
            "tenant's are the admin key's (REGTUNE_ADMIN_KEY)"
        )
    raise Forbidden(f"tenant: {rule}", [FieldProblem(path="tenant", rule=rule)])


def study(
    study_id: Annotated[str, Path(max_length=64, description="study id")], tenant: ReachDep
) -> StudyRow:
    return studies.get_row(study_id, tenant=tenant)


StudyDep = Annotated[StudyRow, Depends(study)]


async def recent_study(
    study_id: Annotated[str, Path(max_length=64, description="study id")],
    tenant: ReachDep,
    cache_control: Annotated[
        str,
        Header(
            alias="Cache-Control",
            description="no-cache: the study as it is now, not as this process read it up to a "
            "second ago",
        ),
    ] = "",
) -> StudyRow:
    """The study's row as read at most ``studies.RECENT_SECONDS`` ago (no database round trip,
    no thread, when this process read it that recently): for reads that show the study. A
    request that says ``Cache-Control: no-cache`` (a client waiting for the study to end) gets
    the row (and its best model) as they are now, which the process then remembers for
    everyone."""
    if "no-cache" in cache_control.lower():
        return await run_in_threadpool(studies.read_row_now, study_id, tenant=tenant)
    row = studies.recent_row(study_id, tenant=tenant)
    if row is None:
        row = await run_in_threadpool(studies.recent_or_read_row, study_id, tenant=tenant)
    return row


RecentStudyDep = Annotated[StudyRow, Depends(recent_study)]
