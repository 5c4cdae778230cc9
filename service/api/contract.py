"""What the OpenAPI schema says beyond each route's own declaration: the answers any route may give
(a 422 in the one error shape; a 413 of a body over the limit, which holds for every request,
and the 400 of a body that cannot be parsed on the routes that take one; a 500 of a fault in the
service; a 503 while the database is away) and the headers the API sets on them (``Location``,
``Retry-After``), so that a client generated from the schema knows every answer it can get; a
study's definition by its own schema (``TYPED``); and an uploaded file as ``format: binary``
beside OpenAPI 3.1's ``contentMediaType``, the one mark most generators know a file by
(openapi-python-client sent the file's ``str()`` as text without it)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.routing import APIRoute

from regtune.service.api.limits import UPLOAD_PATHS
from regtune.service.api.schemas.errors import ErrorResponse

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
LOCATION = {
    "Location": {
        "description": "the path of the resource created (or found)",
        "schema": {"type": "string"},
    }
}
INVALID = (
    "a parameter or the body breaks a rule: error.fields names each (path) and its rule, "
    "in the one error shape"
)
UNAVAILABLE = "the database refused or dropped the connection (database_unavailable)"
INTERNAL = (
    "the service failed (internal_error): a fault of the service or of its stored data, not of "
    "the request; the service's log says what failed"
)
UNPARSEABLE = "the body cannot be parsed (unparseable_body)"
TOO_LARGE = "the request body is larger than {setting} allows (too_large)"
BODILESS = (
    ": the limit holds for every request, before it reaches the operation; this one takes no "
    "body, send none"
)
TOO_NEW = ", or a newer API stored the study (definition_too_new)"
READ_A_DEFINITION = frozenset({"get_study", "cancel_study", "extend_study", "study_report"})
"""Operations that read a stored definition, which this API may not know (``TOO_NEW``)."""
WITHOUT_DATABASE = frozenset({"/healthz", "/readyz"})
"""Routes that answer whatever the database does (``/readyz`` declares its own 503)."""
FASTAPI_ERROR = "#/components/schemas/HTTPValidationError"
TYPED = {("StudyOut", "definition"): "StudySpec"}
"""Answer fields that the response models keep as plain JSON objects, and the schema each
holds: a study's definition answers as stored, which is the definition as ``POST /v1/studies``
takes it (fields only added since the first release, each with a default, so an older study's
is valid too; one a newer release stored answers 503 ``definition_too_new``). The Python
client keeps it a dict: a client older than the API still reads a definition with fields it
does not know."""


def errors(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's own error answers, each with what it means there, in the one error shape.

    Only what the route can answer: the 401 of keys (``access.document``), the 413 of a body
    over the limit, the 500 of a fault and the 503 of a database that is away are added for
    every route, the 400 of a body for every route that takes one (``document``), the 422 of a
    parameter for every route that has one (FastAPI).
    """
    return {status: {"model": ErrorResponse, "description": d} for status, d in described.items()}


def _bodies(upload: bool, operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """The 413 of a body over the limit on every operation (``limits.BodyLimit`` answers it
    before any route, whatever the method; ``upload``: the upload limit's), the 400 of one that
    cannot be parsed where the operation takes a body (a body sent elsewhere is never read)."""
    setting = "REGTUNE_MAX_UPLOAD_BYTES" if upload else "REGTUNE_MAX_BODY_BYTES"
    said = TOO_LARGE.format(setting=setting)
    if "requestBody" in operation:
        responses.setdefault("400", {"description": UNPARSEABLE, "content": ERROR})
    else:
        said += BODILESS
    responses.setdefault("413", {"description": said, "content": ERROR})


def operation_id(route: APIRoute) -> str:
    """The route's function name (``create_study``, ``list_trials``): what a generated client
    names its method, unique (``test_rest_contract``) and stable across versions."""
    return route.name


def document(schema: dict[str, Any]) -> None:
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status, response in responses.items():
                if FASTAPI_ERROR in json.dumps(response):  # the app's handler answers our shape
                    responses[status] = {"description": INVALID, "content": ERROR}
                if status == "201":
                    response.setdefault("headers", {}).update(LOCATION)
            _bodies(method == "post" and path in UPLOAD_PATHS, operation, responses)
            responses.setdefault("500", {"description": INTERNAL, "content": ERROR})
            if path not in WITHOUT_DATABASE:
                why = UNAVAILABLE + (
                    TOO_NEW if operation["operationId"] in READ_A_DEFINITION else ""
                )
                unavailable = responses.setdefault(
                    "503", {"description": f"{why}: try again after Retry-After"}
                )
                unavailable.setdefault("content", ERROR)
                unavailable.setdefault("headers", {}).update(RETRY_AFTER)
    components = schema.get("components", {}).get("schemas", {})
    for (model, name), typed in TYPED.items():
        field = components[model]["properties"][name]
        field.pop("additionalProperties", None)
        field.pop("type", None)
        field["$ref"] = f"#/components/schemas/{typed}"
    for component in components.values():
        for field in component.get("properties", {}).values():
            if field.get("contentMediaType") == "application/octet-stream":
                field.setdefault("format", "binary")
    if FASTAPI_ERROR not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)  # FastAPI's shape, which no route answers
        if "#/components/schemas/ValidationError" not in json.dumps(schema):
            components.pop("ValidationError", None)
