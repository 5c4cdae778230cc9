"""Who may call: bearer-key authentication for every path but health and docs, and CORS.

Authentication is ASGI middleware rather than a route dependency so that it also covers routes
and mounted apps that never ask for a tenant (metrics, workers). The caller it finds is put in
the request state, where ``deps.tenant`` reads it.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from regtune.service.api import docs
from regtune.service.api.errors import error_response, unavailable
from regtune.service.api.schemas.studies import TENANTS_HEADER
from regtune.service.api.schemas.workers import WORKERS_SCOPE_HEADER
from regtune.service.errors import Unauthorized
from regtune.service.settings import get_settings
from regtune.service.store.backoff import TRANSIENT
from regtune.service.store.repos.keys import Caller, authenticate, cached_caller

log = logging.getLogger(__name__)
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", *docs.PUBLIC_PATHS})
CALLER_KEY = "caller"
CHALLENGE = {
    "WWW-Authenticate": {
        "description": "Bearer: send an API key as Authorization: Bearer <key>",
        "schema": {"type": "string"},
    }
}
"""The header every 401 carries (RFC 9110 §11.6.1), as the schema declares it."""
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Cache-Control", "If-None-Match")
"""What a browser may send from an allowed origin: the key, the body's type, and every header
an operation reads (a study's ``Cache-Control: no-cache``, the best model's ``If-None-Match``)."""
CORS_RESPONSE_HEADERS = (
    "Location",
    "Retry-After",
    "ETag",
    "Content-Disposition",
    "X-Regtune-Trial",
    WORKERS_SCOPE_HEADER,
    TENANTS_HEADER,
    "WWW-Authenticate",
    "Allow",
)
"""What a page from an allowed origin may read beyond the safelisted headers: every header the
schema declares an answer to carry (a study's ``Location``, an outage's ``Retry-After``, the
best model's file headers, whose workers or studies a listing holds, a 401's challenge, a 405's
``Allow``)."""


class Authenticate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            caller = await _caller(Headers(scope=scope))
        except Unauthorized as exc:
            response = error_response(401, "unauthorized", exc.message)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        except TRANSIENT as exc:
            log.warning(
                "cannot check the API key (the database is unavailable: %s)", type(exc).__name__
            )
            await unavailable(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER_KEY] = caller
        await self.app(scope, receive, send)


async def _caller(headers: Headers) -> Caller:
    """The caller of a request's ``Authorization`` header; ``Unauthorized`` if it is none."""
    given = headers.getlist("authorization")
    if len(given) > 1:  # whose key is it? (the first one was taken, without a word)
        raise Unauthorized(f"send one Authorization header, got {len(given)}: Bearer <key>")
    header = given[0] if given else None
    settings = get_settings()
    known = cached_caller(header, settings)
    if known is not None:
        return known
    return await anyio.to_thread.run_sync(authenticate, header, settings)


async def confirm(request: Request) -> None:
    """Check the request's key again, before a request held for a while answers (``GET
    /v1/studies/{id}?wait=``): a key revoked meanwhile gets the 401 any request of it gets,
    not the answer. What the key lookup remembers (``KEY_CACHE_SECONDS``) makes it cheap."""
    await _caller(request.headers)


def install(app: FastAPI) -> None:
    """Add authentication, then CORS outside it (preflights carry no key) when configured."""
    app.add_middleware(Authenticate)
    origins = get_settings().cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=list(CORS_RESPONSE_HEADERS),
        )


def document(schema: dict[str, Any]) -> None:
    """Say in the OpenAPI schema what keys do before a route runs: the scheme, and the 401."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (POST /v1/keys), or REGTUNE_ADMIN_KEY.",
    }
    schema["security"] = [{"bearer": []}]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path in PUBLIC_PATHS:
                operation["security"] = []
                continue
            responses.setdefault("401", {"description": "no key, or an unknown or revoked key"})
            responses["401"].setdefault("content", error)
            responses["401"].setdefault("headers", {}).update(CHALLENGE)
