"""What kept a request of the client from a successful answer, as exceptions, and each made
from what httpx gave: an error answer (``ApiError``), a success answer that is not the API's
response model (``UnexpectedAnswer``), no answer at all (``ApiUnreachable``, ``ApiDidNotAnswer``);
``unavailable`` says which of them asking again later may get past."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
from pydantic import ValidationError

from regtune.service.api.schemas.errors import ErrorResponse, FieldError

SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
"""httpx's errors once a request has gone out (in part, for a write's): the server may have
acted on it. The others (no connection, a connection timeout, a full pool) sent nothing."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Requests that change nothing, whatever became of them."""
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
"""The API's 503 (its database away) and a proxy's answers for an API it cannot reach."""


class ClientError(Exception):
    """Anything that kept a request from getting a successful answer."""


class ApiError(ClientError):
    """An error answer from the API, with its code and field problems."""

    def __init__(self, status: int, code: str, message: str, fields: list[FieldError]):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its own arguments (and what was set on it since, a note too), so that
        an error raised in a process pool's worker reaches the parent as itself: ``Exception``
        rebuilds it from its message alone, a ``TypeError`` that breaks the pool."""
        return type(self), (self.status, self.code, self.message, self.fields), vars(self)

    def __str__(self) -> str:
        shown = [f for f in self.fields if f.rule not in self.message]
        detail = "; ".join(f"{f.path}: {f.rule}" for f in shown)
        return f"{self.status} {self.code}: {self.message}" + (
            f" [{detail}]" if detail and detail not in self.message else ""
        )


class ApiUnreachable(ClientError):
    """No HTTP answer at all: wrong URL, server down, network error."""


class ApiDidNotAnswer(ApiUnreachable):
    """The request was sent (whole or in part), and no answer came: the client's timeout ran
    out, or the connection broke off first. What it asked may or may not have been done
    (``changes``: it asked for a change); ``event`` says what happened, ``request`` to what (its
    method and path), ``hint`` how to wait longer (empty when no timeout ran out)."""

    def __init__(self, event: str, *, request: str, changes: bool, hint: str) -> None:
        outcome = ": it was sent, so it may or may not have taken effect" if changes else ""
        super().__init__(f"{event} ({request}){outcome}" + (f"; {hint}" if hint else ""))
        self.event = event
        self.request = request
        self.changes = changes
        self.hint = hint

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its own arguments, as ``ApiError`` is."""
        rebuild = partial(type(self), request=self.request, changes=self.changes, hint=self.hint)
        return rebuild, (self.event,), vars(self)


class BrokenDownload(ClientError):
    """The API began a download and broke it off: nothing was saved."""


class InvalidArgument(ClientError, ValueError):
    """A value the client refuses before any request: a URL or key it cannot send a request
    with, an empty id, a NaN or infinity (JSON has neither). ``argument`` names it as it was
    given (``url``, or ``REGTUNE_URL`` when it is the environment's; ``study_id``;
    ``points[0].lambda``), ``rule`` what it must be."""

    def __init__(self, argument: str, rule: str) -> None:
        super().__init__(f"{argument}: {rule}")
        self.argument = argument
        self.rule = rule

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its own arguments, as ``ApiError`` is."""
        return type(self), (self.argument, self.rule), vars(self)


class ClientClosed(ClientError, RuntimeError):
    """A request of a ``Client`` that was closed (``close()``, or the end of its ``with``
    block): it sends no more, a new ``Client`` does."""


class UnexpectedAnswer(ClientError):
    """A success answer that is not the API's response model: not a regtune API, or another
    version of it."""


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the API cannot answer for now, so that asking again later may do:
    no connection, no answer, or a status of ``UNAVAILABLE_STATUSES``."""
    return isinstance(exc, ApiUnreachable) or (
        isinstance(exc, ApiError) and exc.status in UNAVAILABLE_STATUSES
    )


def unanswered(
    exc: httpx.TransportError, method: str, path: str, *, url: str, timeout_given_as: str
) -> ApiUnreachable:
    """What ``exc`` means for a request to the API at ``url`` (as messages show it):
    ``ApiUnreachable`` when it was not sent (no connection), ``ApiDidNotAnswer`` when it was and
    the answer did not come; ``timeout_given_as`` names the setting of the wait."""
    what = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, SENT):
        return ApiUnreachable(f"cannot reach the regtune API at {url} ({what})")
    hint = ""
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        phase = "read" if isinstance(exc, httpx.ReadTimeout) else "write"
        waited = exc.request.extensions.get("timeout", {}).get(phase)
        event = f"the regtune API at {url} did not answer within {waited:g} s"
        hint = f"{timeout_given_as} sets how many seconds to wait"
    else:
        event = f"the regtune API at {url} broke off before answering ({what})"
    return ApiDidNotAnswer(
        event, request=f"{method} {path}", changes=method not in SAFE_METHODS, hint=hint
    )


def unexpected(response: httpx.Response, exc: ValidationError) -> UnexpectedAnswer:
    """``response``, a success whose body ``exc`` found is not the route's response model."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return not_expected(response, f"{where}: {first['msg']}")


def not_a_file(response: httpx.Response, types: tuple[str, ...], what: str) -> UnexpectedAnswer:
    """``response``, a success whose ``Content-Type`` is none of ``types``, those the API sends
    ``what`` as."""
    given = response.headers.get("Content-Type")
    return not_expected(response, f"Content-Type {given or 'none'}, where {what} is {types[0]}")


def not_expected(response: httpx.Response, why: str) -> UnexpectedAnswer:
    """``response``, a success that is not what the API answers its request with (``why``):
    what stands in the API's place (a captive portal's page, a proxy's), or another version."""
    request = response.request
    return UnexpectedAnswer(
        f"{request.method} {request.url.path}: the answer is not what this client expects "
        f"({why}); is {request.url.host} a regtune API of the same version?"
    )


def api_error(response: httpx.Response) -> ApiError:
    """``response``, not a success, as an ``ApiError``: the code and fields of the API's error
    body, else its text; a redirect as an answer from something that is not the API."""
    if response.is_redirect:
        request, location = response.request, response.headers.get("Location", "elsewhere")
        return ApiError(
            response.status_code,
            "redirect",
            f"{request.method} {request.url.path} was answered with a redirect to {location}, "
            "which the client does not follow: the regtune API redirects none of the requests "
            f"it sends, so what answers at {request.url.host} is not the API itself (a proxy?)",
            [],
        )
    try:
        error = ErrorResponse.model_validate_json(response.content).error
    except ValidationError:
        return ApiError(response.status_code, "http_error", response.text[:500] or "", [])
    return ApiError(response.status_code, error.code, error.message, error.fields)
