"""An API key as the API answers it, and a new one with its secret."""

from __future__ import annotations

from pydantic import Field

from regtune.service.api.schemas.answer import Answer, UtcDateTime


class KeyOut(Answer):
    id: str
    tenant: str
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None


class NewKey(KeyOut):
    key: str = Field(description="the secret; shown only in this response")
    warning: str | None = Field(
        default=None, description="what the caller should know about this key's tenant"
    )
