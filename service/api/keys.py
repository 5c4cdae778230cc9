"""API keys under /v1/keys, which only the admin key (REGTUNE_ADMIN_KEY) manages."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from regtune.service.api.body import documented, read_as
from regtune.service.api.contract import errors
from regtune.service.api.deps import CallerDep
from regtune.service.api.schemas.keys import KeyOut, NewKey
from regtune.service.settings import get_settings
from regtune.service.store.repos import keys as auth
from regtune.service.store.tables import ApiKeyRow

log = logging.getLogger(__name__)
DEFAULT_TENANT_WARNING = (
    "tenant 'default' owns every study and dataset made before keys were turned on (and any "
    "made without a key on loopback): this key reads, cancels and deletes all of them; give "
    "a new team its own tenant name"
)
NOT_ADMIN = errors(
    {403: "not the admin key, or REGTUNE_ADMIN_KEY is not set on the server (keys are off)"}
)


def admin(caller: CallerDep) -> None:
    auth.require_admin(caller, get_settings())


router = APIRouter(prefix="/v1", tags=["keys"], dependencies=[Depends(admin)])
TenantName = Annotated[str, Field(pattern=auth.TENANT_PATTERN, examples=["team-a"])]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: TenantName


def key_out(row: ApiKeyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant": row.tenant,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    }


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=NewKey,
    responses=NOT_ADMIN,
    openapi_extra=documented(KeyCreate),
)
def create_key(
    body: Annotated[KeyCreate, Depends(read_as(KeyCreate))], response: Response
) -> NewKey:
    row, secret = auth.create_key(body.tenant)
    response.headers["Location"] = f"/v1/keys/{row.id}"
    warning = None
    if body.tenant == auth.DEFAULT_TENANT:
        warning = DEFAULT_TENANT_WARNING
        log.warning("key %s created for tenant %r: %s", row.id, body.tenant, warning)
    return NewKey(**key_out(row), key=secret, warning=warning)


@router.get("/keys", response_model=list[KeyOut], responses=NOT_ADMIN)
def list_keys(
    tenant: Annotated[str | None, Query(pattern=auth.TENANT_PATTERN)] = None,
) -> list[KeyOut]:
    return [KeyOut(**key_out(r)) for r in auth.list_keys(tenant=tenant)]


@router.get(
    "/keys/{key_id}",
    response_model=KeyOut,
    responses={**NOT_ADMIN, **errors({404: "no key has this id"})},
)
def get_key(key_id: Annotated[str, Path(max_length=64)]) -> KeyOut:
    """One key, as the list gives it: what ``POST /v1/keys``'s ``Location`` names."""
    return KeyOut(**key_out(auth.get_key(key_id)))


@router.delete(
    "/keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_ADMIN, **errors({404: "no key has this id"})},
)
def revoke_key(key_id: Annotated[str, Path(max_length=64)]) -> Response:
    """Revoke at once; the key's next request gets 401."""
    auth.revoke_key(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
