"""The one place where domain and validation errors become HTTP responses."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from datetime import date
from itertools import pairwise
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from optuna.exceptions import StorageInternalError
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from regtune.service.errors import (
    ArtifactStoreUnavailable,
    BestModelFileDamaged,
    Conflict,
    DefinitionTooNew,
    DomainError,
    FieldProblem,
    Forbidden,
    InvalidDefinition,
    InvalidUpload,
    NotFound,
    Unauthorized,
)
from regtune.service.logs import escaped
from regtune.service.spec.definition import PATTERN_WORDS, StudySpec
from regtune.service.spec.locations import union_tags, written
from regtune.service.spec.space import reads_as_number
from regtune.service.spec.words import SHOWN_CHARACTERS, quoted
from regtune.service.store.backoff import caused_by_database, describe, unavailable_cause
from regtune.service.store.repos.keys import TENANT_PATTERN
from regtune.service.store.repos.model_files import STORE_RETRY_AFTER_S

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
"""What a 503 asks the caller to wait: about a worker's first back-off from an outage."""
RULE_WORDS = PATTERN_WORDS | {
    TENANT_PATTERN: "1 to 64 ASCII letters (A-Z, a-z), digits, '.', '_' or '-', starting with a "
    "letter or digit"
}
"""Every pattern an input must match, in words (a definition's and a key's tenant)."""
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError)
"""Errors that say the database refused or dropped the connection, not that a request is wrong."""


class BadBody(Exception):
    """The body could not be parsed at all (400), as opposed to parsed but invalid (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def error_response(
    status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
) -> JSONResponse:
    said = [{name: encodable(text) for name, text in field.items()} for field in fields or []]
    body = {"error": {"code": code, "message": encodable(message), "fields": said}}
    return JSONResponse(status_code=status, content=body)


def encodable(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate, which a caller's JSON may hold in a key
    (``"\\ud800"``) and an error repeats, as its escape (``\\ud800``), not a failed answer."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unavailable(exc: BaseException) -> JSONResponse:
    """503 with ``Retry-After``, naming why the database refused (its address stays out)."""
    log.warning("database unavailable: %s", describe(exc))
    response = error_response(
        503,
        "database_unavailable",
        f"the database refused the request: {unavailable_cause(exc)}; retry in {RETRY_AFTER_S} s",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _path(loc: Sequence[Any]) -> str:
    parts = [_part(str(p)) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _part(key: str) -> str:
    """A key of a field's path as written, each character that is not printable (a control or
    bidi character, which the 422 would otherwise carry to the caller's terminal, or a lone
    surrogate) as its escape (``\\x1b[2J``, ``\\ud800``), as the log writes it."""
    return escaped(key)


def _rule(error: dict[str, Any]) -> str:
    """The rule an input broke, in words: a pattern as what it allows, a number, boolean or
    date where text belongs with the quotes YAML needs; else pydantic's message."""
    kind, given = error.get("type"), error.get("input")
    pattern = (error.get("ctx") or {}).get("pattern")
    if kind == "string_pattern_mismatch" and pattern in RULE_WORDS:
        return f"must be {RULE_WORDS[pattern]}, got {_shown(given)}"
    if kind == "string_type" and isinstance(given, bool):
        return (
            f"must be text, got the boolean {str(given).lower()} (in YAML, true and false are "
            "booleans, and to YAML 1.1 readers such as PyYAML's safe_load yes, no, on and off "
            "too: quote it)"
        )
    if kind == "string_type" and isinstance(given, int | float):
        return f"must be text, got the number {given} (in YAML, quote it: '{given}')"
    if kind == "string_type" and isinstance(given, date):  # a datetime too
        return f"must be text, got the date {given} (in YAML, quote it: '{given}')"
    in_body = not error.get("loc") or error["loc"][0] not in ("query", "path", "header")
    if kind in NUMBER_TYPES and in_body and isinstance(given, str) and reads_as_number(given):
        return _number_as_text(given, MEMBER_WORDS[kind])
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _shown(given: Any) -> str:
    return quoted(given) if isinstance(given, str) else repr(given)


def shown(name: str) -> str:
    """A name the caller gave (a form field's), as an error's path repeats it: at most
    ``SHOWN_CHARACTERS`` of it."""
    if len(name) <= SHOWN_CHARACTERS:
        return name
    return f"{name[:SHOWN_CHARACTERS]}… ({len(name):,} characters)"


NUMBER_TYPES = ("float_type", "float_parsing", "int_type", "int_parsing")
NO_POINT_EXPONENT = re.compile(r"\s*([-+]?\d+)([eE][-+]?\d+)\s*")
"""``1e-5``: a number to JSON and YAML 1.2, text to YAML 1.1 readers such as PyYAML."""


NOT_FINITE = "it reads as an infinity or NaN, which JSON has no number for: give a finite number"
"""What a number sent as text is told when it is no finite number (``float`` reads 'inf' and
'nan', which without quotes are no JSON at all), instead of to write it without quotes."""


def _number_as_text(text: str, expected: str) -> str:
    """A number sent as text, the likeliest way being a definition read with PyYAML's
    ``safe_load`` (``1e-5`` is text to it) and sent as a mapping: what to write instead."""
    said = f"must be {expected}, got the text {text!r}"
    if not math.isfinite(float(text)):  # 'inf', 'nan'; '1e400', past a float's range
        return f"{said} ({NOT_FINITE})"
    exponent = NO_POINT_EXPONENT.fullmatch(text)
    if exponent is None:
        return f"{said} (write it without quotes)"
    mantissa, power = exponent.groups()
    value = float(text)
    whole = expected.startswith("a whole number") and value.is_integer()
    # a whole-number field refuses 1.0e3 as it refuses 1000.0: name the whole number
    written = f"{int(value)}" if whole else f"{mantissa}.0{power}"
    return (
        f"{said} (PyYAML's safe_load reads a number with an exponent and no decimal point as "
        f"text: write {written}, or send the file itself: regtune submit FILE, "
        "Client.submit(Path(FILE)))"
    )


MEMBER_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "none_required": "null",
}
"""What a union member takes, by the error of a value of another type (``literal_error`` says
its values itself)."""


def _expected(error: dict[str, Any]) -> str | None:
    """What the member behind ``error`` takes, or None if the value had its type and broke
    one of its rules."""
    if error.get("type") == "literal_error":
        return str((error.get("ctx") or {}).get("expected", "one of its values"))
    return MEMBER_WORDS.get(str(error.get("type")))


def _given(value: Any) -> str:
    match value:
        case bool():
            return f"the boolean {str(value).lower()}"
        case int() | float():
            return f"the number {value}"
        case str():
            return f"the text {_shown(value)}"
        case None:
            return "null"
        case list():
            return "a list"
    return "a mapping"


def _members_rule(errors: list[dict[str, Any]]) -> str:
    """One rule for a field whose value no member of its union took (pydantic says each
    member's error): what a member had the value's type and refused, or every member's type."""
    broken = [e for e in errors if _expected(e) is None]
    if broken:
        return "; ".join(dict.fromkeys(_rule(e) for e in broken))
    words = list(dict.fromkeys(str(_expected(e)) for e in errors))
    expected = ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]
    given = errors[0].get("input")
    numbers = any(e.get("type") in NUMBER_TYPES for e in errors)
    if numbers and isinstance(given, str) and reads_as_number(given):
        return _number_as_text(given, expected)
    return f"must be {expected}, got {_given(given)}"


def validation_fields(errors: list[Any]) -> list[dict[str, str]]:
    """One problem per field: the errors pydantic gives at one place, one per member of a
    union none took, are said as one rule."""
    at: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        at.setdefault(_path(error.get("loc", ())), []).append(error)
    return [
        {"path": path, "rule": _rule(found[0]) if len(found) == 1 else _members_rule(found)}
        for path, found in at.items()
    ]


def _validation_message(fields: list[dict[str, str]]) -> str:
    return "; ".join(f"{f['path']}: {f['rule']}" for f in fields[:5]) or "invalid request"


METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route's),
    asked of the routes themselves, so that routers included whole are asked too; HEAD where
    GET is (``head.HeadAsGet``)."""
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return sorted([*allowed, "HEAD"] if "GET" in allowed else allowed)


def invalid_definition(exc: ValidationError, data: Any) -> InvalidDefinition:
    """A user's definition (``data``, as sent) failed validation: the 422 names every field, as
    the user wrote it, and its rule."""
    tags = union_tags(StudySpec)
    errors = [{**e, "loc": written(e.get("loc", ()), data, tags)} for e in exc.errors()]
    fields = validation_fields(errors)
    problems = [FieldProblem(path=f["path"], rule=f["rule"]) for f in fields]
    return InvalidDefinition(_validation_message(fields), problems)


_ITEMS = {"studies": "study", "datasets": "dataset", "keys": "key"}
"""The collections whose items an id names, each item in words."""


def _missed_route(request: Request) -> str:
    """Why a path matched no route, in words: an id holding an escaped ``/`` (``a%2Fb``),
    which the router reads as two segments, is no item of its collection, since no id holds
    one; anything else is a path the API does not serve."""
    raw = request.scope.get("raw_path", b"").decode("latin-1").split("?")[0]
    segments = raw.split("/")
    for collection, segment in pairwise(segments):
        if collection in _ITEMS and "%2f" in segment.lower():
            item = unquote(segment)
            return f"no {_ITEMS[collection]} with id {item!r}: an id holds no '/'"
    return f"no such path: {request.url.path}"


TOO_MANY_FIELDS = re.compile(r"Too many fields\. Maximum number of fields is (\d+)\.")
"""Starlette's refusal of a form past its ``max_fields`` (an upload's ``form_limits``)."""


def _bad_body_response(message: str) -> JSONResponse:
    """400: a body that cannot be parsed at all, as ``POST /v1/studies`` answers it."""
    return error_response(400, "unparseable_body", message, [{"path": "body", "rule": message}])


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return unavailable(exc)


FAULT = "the service failed ({kind}); the service's log says what failed"
"""What a 500 of an unexpected exception says: its type, nothing of its text (which may hold a
path or a statement), which the log has with the traceback."""


def install(app: FastAPI) -> None:
    @app.exception_handler(Exception)
    async def _fault(_: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost middleware answers with this, then raises ``exc`` again for the
        # server to log with its traceback: a fault is a 500 in the one error shape, not text.
        response = error_response(500, "internal_error", FAULT.format(kind=type(exc).__name__))
        response.headers["Connection"] = "close"  # the server closes it: no client reuses it
        return response

    @app.exception_handler(ValidationError)
    async def _pydantic(_: Request, exc: ValidationError) -> JSONResponse:
        # Only the server's own data reaches here (user input is translated where it is parsed):
        # a stored row that no longer validates is the server's fault, never the caller's 422.
        log.error("stored data failed validation: %s", exc)
        return error_response(500, "internal_error", "stored data failed validation")

    @app.exception_handler(StorageInternalError)
    async def _storage(_: Request, exc: StorageInternalError) -> JSONResponse:
        if caused_by_database(exc.__cause__ or exc.__context__ or exc):
            return unavailable(exc)
        log.error("Optuna's storage failed: %s", describe(exc))
        return error_response(500, "internal_error", "the trial storage failed")

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = validation_fields(list(exc.errors()))
        return error_response(422, "invalid_request", _validation_message(fields), fields)

    @app.exception_handler(BadBody)
    async def _bad_body(_: Request, exc: BadBody) -> JSONResponse:
        return _bad_body_response(exc.message)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", exc.message)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", exc.message, [f.__dict__ for f in exc.fields])

    @app.exception_handler(InvalidDefinition)
    async def _invalid(_: Request, exc: InvalidDefinition) -> JSONResponse:
        return error_response(
            422, "invalid_definition", exc.message, [f.__dict__ for f in exc.fields]
        )

    @app.exception_handler(InvalidUpload)
    async def _upload(_: Request, exc: InvalidUpload) -> JSONResponse:
        fields = [f.__dict__ for f in exc.fields] or [{"path": "file", "rule": exc.message}]
        return error_response(422, "invalid_upload", exc.message, fields)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        response = error_response(401, "unauthorized", exc.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "forbidden", exc.message, [f.__dict__ for f in exc.fields])

    @app.exception_handler(ArtifactStoreUnavailable)
    async def _store(_: Request, exc: ArtifactStoreUnavailable) -> JSONResponse:
        response = error_response(503, "artifact_store_unavailable", exc.message)
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
        return response

    @app.exception_handler(BestModelFileDamaged)
    async def _damaged(_: Request, exc: BestModelFileDamaged) -> JSONResponse:
        """The server's stored file, not the request, is at fault, and a retry would read the
        same bytes: a 500 without ``Retry-After``, as stored data that fails validation is."""
        return error_response(500, "model_file_damaged", exc.message)

    @app.exception_handler(DefinitionTooNew)
    async def _newer(_: Request, exc: DefinitionTooNew) -> JSONResponse:
        """No fault of the caller's: an API process of a newer regtune (a rolling upgrade's
        next pods) answers it."""
        response = error_response(503, "definition_too_new", exc.message)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(400, "bad_request", exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
        }.get(exc.status_code, "http_error")
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            message = (
                f"method {request.method} is not allowed on {request.url.path}; it allows "
                f"{', '.join(allowed)}"
            )
            response = error_response(405, code, message)
            response.headers["Allow"] = ", ".join(allowed)
            return response
        said = str(exc.detail)
        if exc.status_code == 404 and said == "Not Found":  # no route matched the path
            said = _missed_route(request)
        if exc.status_code == 400:  # a multipart body that cannot be parsed
            why = said if exc.__cause__ is None else str(exc.__cause__)
            if too_many := TOO_MANY_FIELDS.fullmatch(why):
                return _bad_body_response(
                    f"the form has more than {int(too_many[1]):,} fields (each ignore and "
                    "missing_values is one): drop the columns to leave out from the file "
                    "itself instead of naming each, and give fewer missing_values"
                )
            return _bad_body_response(f"the body cannot be parsed: {why}")
        fields = [{"path": "body", "rule": said}] if exc.status_code == 413 else None
        response = error_response(exc.status_code, code, said, fields)
        response.headers.update(exc.headers or {})
        return response
